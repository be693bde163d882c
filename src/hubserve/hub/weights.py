"""Check weight files at import, so a corrupt or truncated file is refused then, not at the first request.

Each check reads a file's header and its index of tensors, never the weights themselves:

- safetensors: the 8-byte header length fits the file, the header is a JSON object, every tensor has a
  dtype, a shape and offsets, its bytes match its dtype and shape, and the tensors tile the data exactly
  (the rules the safetensors loader itself applies).
- GGUF: the magic ``GGUF``, a known version, tensor and metadata counts the file can hold, every metadata
  value inside the file, and every tensor's data inside the data section.
- ONNX: ``onnx.checker.check_model`` on the path when the ``onnx`` package is installed; else the file
  must at least begin as an ONNX ModelProto (its ``ir_version`` field).
"""

from __future__ import annotations

import importlib.util
import json
import math
import mmap
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hubserve.errors import ImportFailed

SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors library refuses larger headers

# Bits per element of each safetensors dtype.
SAFETENSORS_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)  # version 1 (32-bit counts) predates every model llama.cpp still loads
GGUF_DEFAULT_ALIGNMENT = 32
# GGUF metadata value types: fixed sizes; 8 is a string, 9 an array.
_GGUF_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
# ggml tensor types: (elements per block, bytes per block), for the types whose layout is certain.
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    30: (1, 2),  # BF16
}
_GGUF_MAX_DIMS = 4


def check_weights(files: Iterable[Path]) -> None:
    """Check every weight file among ``files``; ImportFailed names the first bad one and why."""
    for path in files:
        check = CHECKS.get(path.suffix)
        if check is None:
            continue
        try:
            check(path)
        except _Corrupt as exc:
            kind = _KIND[path.suffix]
            raise ImportFailed(f"{path} is not a valid {kind} file: {exc}") from None


class _Corrupt(Exception):
    """A weight file breaks its format; the message says how."""


def check_safetensors(path: Path) -> None:
    """The header of a safetensors file, against the file's size."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise _Corrupt(f"it has {size} bytes, fewer than the 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        if length > SAFETENSORS_MAX_HEADER or length > size - 8:
            raise _Corrupt(f"its header length {length} does not fit a file of {size} bytes")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Corrupt(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _Corrupt("its header is not a JSON object")
    data_size = size - 8 - length
    spans = sorted(_tensor_span(name, info) for name, info in header.items() if name != "__metadata__")
    at = 0
    for begin, end, name in spans:
        if begin != at:
            raise _Corrupt(f"tensor {name!r} starts at byte {begin}, not where the one before ends ({at})")
        at = end
    if at != data_size:
        raise _Corrupt(f"its tensors cover {at} bytes of a data section of {data_size} (truncated?)")


def _tensor_span(name: str, info: Any) -> tuple[int, int, str]:
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise _Corrupt(f"tensor {name!r} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not (isinstance(shape, list) and all(_natural(d) for d in shape)):
        raise _Corrupt(f"tensor {name!r} has shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
        raise _Corrupt(f"tensor {name!r} has data_offsets {offsets!r}")
    begin, end = offsets
    if end < begin:
        raise _Corrupt(f"tensor {name!r} ends before it begins ({begin}..{end})")
    if not isinstance(dtype, str):
        raise _Corrupt(f"tensor {name!r} has dtype {dtype!r}")
    bits = SAFETENSORS_BITS.get(dtype)
    if bits is not None and math.prod(shape) * bits != (end - begin) * 8:
        raise _Corrupt(f"tensor {name!r} ({dtype} {shape}) does not take {end - begin} bytes")
    return begin, end, name


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_gguf(path: Path) -> None:
    """The header, metadata and tensor index of a GGUF file, against the file's size."""
    with path.open("rb") as handle:
        if path.stat().st_size < 24:
            raise _Corrupt("it is shorter than a GGUF header")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            _GgufReader(view).check()


# Fixed-size metadata types as struct codes, for the values gguf_metadata decodes.
_GGUF_CODES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_metadata(path: Path, arrays: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A GGUF file's scalar and string metadata, and the fixed-size arrays named in ``arrays``.

    Other arrays (the vocabulary's strings, its merges) are skipped, so reading a large model's metadata
    takes milliseconds; the file must already have passed ``check_gguf``.
    """
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        try:
            return _GgufReader(view).metadata(arrays)
        except _Corrupt as exc:
            raise ImportFailed(f"{path.name} is not a valid GGUF file: {exc}") from exc


class _GgufReader:
    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.size = len(data)
        self.at = 0

    def take(self, n: int) -> bytes:
        if n > self.size - self.at:
            raise _Corrupt(f"it ends inside its header (needs {n} bytes at offset {self.at})")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def skip(self, n: int) -> None:
        if n > self.size - self.at:
            raise _Corrupt(f"a value of {n} bytes at offset {self.at} runs past the end of the file")
        self.at += n

    def string(self) -> bytes:
        return self.take(self.u64())

    def check(self) -> None:
        magic = self.take(4)
        if magic != GGUF_MAGIC:
            raise _Corrupt(f"it starts with {magic!r}, not the magic {GGUF_MAGIC!r}")
        version = self.u32()
        if version not in GGUF_VERSIONS:
            raise _Corrupt(f"its version {version} is not one of {', '.join(map(str, GGUF_VERSIONS))}")
        tensors, kvs = self.u64(), self.u64()
        # The smallest metadata entry takes 13 bytes, the smallest tensor entry 24: the file must hold them.
        if tensors * 24 + kvs * 13 > self.size:
            raise _Corrupt(f"it claims {tensors} tensors and {kvs} metadata entries, more than it can hold")
        alignment = GGUF_DEFAULT_ALIGNMENT
        for _ in range(kvs):
            key = self.string()
            kind = self.u32()
            if key == b"general.alignment" and kind == 4:  # uint32
                alignment = self.u32()
                if alignment == 0 or alignment & (alignment - 1):
                    raise _Corrupt(f"its alignment {alignment} is not a power of two")
            else:
                self.value(kind)
        index = [self.tensor_info() for _ in range(tensors)]
        start = -(-self.at // alignment) * alignment
        data_size = self.size - start
        for name, offset, nbytes in index:
            if offset % alignment:
                raise _Corrupt(f"tensor {name!r} at data offset {offset} is not aligned to {alignment}")
            if offset + (nbytes or 0) > data_size:
                raise _Corrupt(f"tensor {name!r} runs past the end of the file (truncated?)")

    def metadata(self, arrays: frozenset[str]) -> dict[str, Any]:
        if self.take(4) != GGUF_MAGIC:
            raise _Corrupt("it does not start with the GGUF magic")
        self.u32()
        _tensors, kvs = self.u64(), self.u64()
        out: dict[str, Any] = {}
        for _ in range(kvs):
            key = self.string().decode("utf-8", errors="replace")
            kind = self.u32()
            if kind in _GGUF_CODES:
                out[key] = struct.unpack("<" + _GGUF_CODES[kind], self.take(_GGUF_FIXED[kind]))[0]
            elif kind == _GGUF_STRING:
                out[key] = self.string().decode("utf-8", errors="replace")
            elif kind == _GGUF_ARRAY and key in arrays:
                item, count = self.u32(), self.u64()
                if item not in _GGUF_CODES:
                    raise _Corrupt(f"the array {key!r} does not hold fixed-size values")
                raw = self.take(_GGUF_FIXED[item] * count)
                out[key] = struct.unpack(f"<{count}{_GGUF_CODES[item]}", raw)
            else:
                self.value(kind)
        return out

    def value(self, kind: int) -> None:
        if kind in _GGUF_FIXED:
            self.skip(_GGUF_FIXED[kind])
        elif kind == _GGUF_STRING:
            self.skip(self.u64())
        elif kind == _GGUF_ARRAY:
            item, count = self.u32(), self.u64()
            if item in _GGUF_FIXED:
                self.skip(_GGUF_FIXED[item] * count)
            elif count > self.size - self.at:  # every item takes at least one byte
                raise _Corrupt(f"an array of {count} items at offset {self.at} cannot fit the file")
            else:
                for _ in range(count):
                    self.value(item)
        else:
            raise _Corrupt(f"a metadata value at offset {self.at} has unknown type {kind}")

    def tensor_info(self) -> tuple[str, int, int | None]:
        name = self.string().decode("utf-8", errors="replace")
        dims = self.u32()
        if dims > _GGUF_MAX_DIMS:
            raise _Corrupt(f"tensor {name!r} has {dims} dimensions")
        shape = [self.u64() for _ in range(dims)]
        kind, offset = self.u32(), self.u64()
        block = GGML_BLOCKS.get(kind)
        count = math.prod(shape)
        if block is None:
            return name, offset, None
        elements, nbytes = block
        if count % elements:
            raise _Corrupt(f"tensor {name!r} of {count} elements is not whole blocks of {elements}")
        return name, offset, count // elements * nbytes


def check_onnx(path: Path) -> None:
    """The ONNX checker on the graph (and its external data, which it finds next to the path)."""
    if importlib.util.find_spec("onnx") is None:
        with path.open("rb") as handle:
            if handle.read(1) != b"\x08":  # field 1 (ir_version), a varint: every ModelProto starts so
                raise _Corrupt("it does not begin as an ONNX ModelProto")
        return
    import onnx.checker

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # the checker raises ValidationError, DecodeError and more
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Corrupt(first) from None


CHECKS: dict[str, Callable[[Path], None]] = {
    ".safetensors": check_safetensors,
    ".gguf": check_gguf,
    ".onnx": check_onnx,
}
_KIND = {".safetensors": "safetensors", ".gguf": "GGUF", ".onnx": "ONNX"}
