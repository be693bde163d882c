"""Weights are checked at import: corrupt safetensors, GGUF and ONNX files are refused, the hub untouched."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from hubserve.cli.main import main
from hubserve.errors import ImportFailed
from hubserve.hub.importers import import_folder, import_gguf
from hubserve.hub.store import HubStore
from hubserve.hub.weights import check_weights, gguf_metadata
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId

TASKS = supported_tasks()


def _safetensors(path: Path) -> Path:
    from safetensors.numpy import save_file

    save_file({"a": np.ones((3, 4), np.float32), "b": np.arange(5, dtype=np.int64)}, str(path))
    return path


def _raw_safetensors(path: Path, header: object, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _gguf(path: Path, *, version: int = 3, tensor_offset: int = 0, elements: int = 8) -> Path:
    """A minimal GGUF: two metadata entries (a string and an array of strings) and one F32 tensor."""
    kvs = _gguf_string("general.name") + struct.pack("<I", 8) + _gguf_string("tiny")
    kvs += _gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2)
    kvs += _gguf_string("a") + _gguf_string("b")
    info = _gguf_string("w") + struct.pack("<IQIQ", 1, elements, 0, tensor_offset)
    head = b"GGUF" + struct.pack("<IQQ", version, 1, 2) + kvs + info
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + np.arange(8, dtype=np.float32).tobytes())
    return path


def _onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_valid_files_pass(tmp_path: Path) -> None:
    check_weights([_safetensors(tmp_path / "m.safetensors"), _gguf(tmp_path / "m.gguf")])
    check_weights([_onnx(tmp_path / "m.onnx"), tmp_path / "other.txt"])


@pytest.mark.parametrize(
    ("header", "data", "reason"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "truncated"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}, b"\0" * 12, "does not take 12"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "starts at byte 4"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
        ({"a": {"dtype": "F32", "data_offsets": [0, 4]}}, b"\0" * 4, "lacks dtype"),
        ([1, 2], b"", "not a JSON object"),
    ],
)
def test_bad_safetensors_headers(tmp_path: Path, header: object, data: bytes, reason: str) -> None:
    path = _raw_safetensors(tmp_path / "model.safetensors", header, data)
    with pytest.raises(ImportFailed, match=reason) as caught:
        check_weights([path])
    assert "is not a valid safetensors file" in caught.value.message
    assert caught.value.error_type == "import_failed"


def test_random_bytes_and_truncations_are_refused(tmp_path: Path) -> None:
    noise = tmp_path / "model.safetensors"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(ImportFailed, match=r"header length .* does not fit"):
        check_weights([noise])
    good = _safetensors(tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[:-3])
    with pytest.raises(ImportFailed, match="truncated"):
        check_weights([tmp_path / "cut.safetensors"])
    (tmp_path / "junk.safetensors").write_bytes(struct.pack("<Q", 4) + b"\xff{]x")
    with pytest.raises(ImportFailed, match="not JSON"):
        check_weights([tmp_path / "junk.safetensors"])


def test_bad_gguf_files(tmp_path: Path) -> None:
    cases = {
        "noise.gguf": os.urandom(4096),
        "version.gguf": _gguf(tmp_path / "v.gguf", version=7).read_bytes(),
        "offset.gguf": _gguf(tmp_path / "o.gguf", tensor_offset=64).read_bytes(),
        "big.gguf": _gguf(tmp_path / "b.gguf", elements=1 << 20).read_bytes(),
        "cut.gguf": _gguf(tmp_path / "c.gguf").read_bytes()[:60],
        "counts.gguf": b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1 << 40) + b"\0" * 64,
    }
    reasons = {
        "noise.gguf": "not the magic",
        "version.gguf": "version 7",
        "offset.gguf": "runs past the end",
        "big.gguf": "runs past the end",
        "cut.gguf": "ends inside its header|runs past the end",
        "counts.gguf": "more than it can hold",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImportFailed, match=reasons[name]):
            check_weights([tmp_path / name])


def test_bad_onnx_files(tmp_path: Path) -> None:
    good = _onnx(tmp_path / "good.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.onnx").write_bytes(os.urandom(2048))
    for name in ("cut.onnx", "noise.onnx"):
        with pytest.raises(ImportFailed, match="is not a valid ONNX file"):
            check_weights([tmp_path / name])


def _nothing_imported(store: HubStore) -> None:
    assert store.list() == []
    assert list((store.root / ".staging").iterdir()) == []
    assert not (store.root / "models" / "t").exists()


def test_a_corrupt_folder_is_not_imported(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_dirs["embed"], folder)
    (folder / "model.safetensors").write_bytes(os.urandom(65536))
    store = HubStore(tmp_path / "hub")
    with pytest.raises(ImportFailed, match=r"model\.safetensors is not a valid safetensors file"):
        import_folder(store, folder, ModelId.parse("t/broken"), supported_tasks=TASKS, show_progress=False)
    _nothing_imported(store)


def test_a_corrupt_gguf_is_not_imported(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(4096))
    store = HubStore(tmp_path / "hub")
    with pytest.raises(ImportFailed, match="is not a valid GGUF file"):
        import_gguf(store, gguf, ModelId.parse("t/lm"), supported_tasks=TASKS, show_progress=False)
    _nothing_imported(store)


def test_the_cli_import_of_corrupt_weights_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_dirs["cls"], folder)
    (folder / "model.safetensors").write_bytes(os.urandom(65536))
    code = main(["--home", str(tmp_path / "home"), "import", str(folder), "--as", "t/broken"])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert code == 2
    assert "(import_failed)" in err and "not a valid safetensors file" in err
    _nothing_imported(HubStore(tmp_path / "home" / "hub"))


def test_gguf_metadata_reads_scalars_strings_and_the_arrays_asked_for(tmp_path: Path) -> None:
    kvs = _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("gemma3")
    kvs += _gguf_string("gemma3.context_length") + struct.pack("<II", 4, 32768)
    kvs += _gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2)
    kvs += _gguf_string("a") + _gguf_string("b")
    kvs += (
        _gguf_string("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, 3) + struct.pack("<3i", 1, 3, 1)
    )
    path = tmp_path / "meta.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 4) + kvs)
    meta = gguf_metadata(path, frozenset({"tokenizer.ggml.token_type"}))
    assert meta == {
        "general.architecture": "gemma3",
        "gemma3.context_length": 32768,
        "tokenizer.ggml.token_type": (1, 3, 1),
    }
    assert "tokenizer.ggml.token_type" not in gguf_metadata(path)
    (tmp_path / "cut.gguf").write_bytes(path.read_bytes()[:40])
    with pytest.raises(ImportFailed, match="not a valid GGUF"):
        gguf_metadata(tmp_path / "cut.gguf")
