from __future__ import annotations

from pathlib import Path

import pytest

from hubserve.config import Settings
from hubserve.server import create_app


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/models/{namespace}/{name}", ["namespace", "name"]),
        ("/models/{namespace}/{name}/pipeline/{task}", ["namespace", "name", "task"]),
        ("/pipeline/{task}/{namespace}/{name}", ["task", "namespace", "name"]),
    ],
)
def test_hf_routes_document_their_path_parameters(tmp_path: Path, path: str, names: list[str]) -> None:
    spec = create_app(Settings.from_env(home=tmp_path)).openapi()
    params = spec["paths"][path]["post"]["parameters"]
    assert [p["name"] for p in params] == names
    assert all(p["in"] == "path" and p["required"] for p in params)
