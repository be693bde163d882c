"""A model whose files pass the import checks but that its runtime cannot load answers model_load_failed."""

from __future__ import annotations

from pathlib import Path

import httpx

from hubserve.hub.store import HubStore
from hubserve.types.names import ModelId
from tests.conftest import import_tiny, running_server


def test_weights_corrupted_after_import_answer_model_load_failed(
    tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    store = HubStore(home / "hub")
    import_tiny(store, tiny_dirs["embed"], "t/broken")
    weights = store.files_dir(ModelId.parse("t/broken")) / "model.safetensors"
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])  # damaged on disk after the import
    with running_server(home, HUBSERVE_HOLD_COLD_REQUESTS_S="120", HUBSERVE_SPARE_RUNNERS="0") as (url, _):
        hf = httpx.post(f"{url}/models/t/broken", json={"inputs": "hello"}, timeout=120)
        assert hf.status_code == 500, hf.text
        assert hf.headers["x-error-type"] == "model_load_failed"
        assert "header too large" in hf.json()["error"]
        again = httpx.post(f"{url}/models/t/broken", json={"inputs": "hello"}, timeout=120)
        assert again.status_code == 500  # tried again, failed the same way: not a cached internal error
        assert again.headers["x-error-type"] == "model_load_failed"
