"""Exact bytes of each token of a Hugging Face tokenizer (byte-level BPE, byte fallback, metaspace)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's printable byte alphabet."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def token_byte_table(tokenizer: Any, vocab_size: int) -> list[bytes]:
    """Bytes for every id below ``vocab_size``; special and unknown ids map to b""."""
    byte_level = "ByteLevel" in type(getattr(tokenizer.backend_tokenizer, "decoder", None)).__name__
    mapping = _unicode_to_byte()
    special = set(tokenizer.all_special_ids)
    table: list[bytes] = []
    for token_id in range(vocab_size):
        piece = tokenizer.convert_ids_to_tokens(token_id) if token_id < len(tokenizer) else None
        if piece is None or token_id in special:
            table.append(b"")
        elif byte_level:
            table.append(bytes(mapping[c] for c in piece if c in mapping))
        elif match := _BYTE_TOKEN.match(piece):
            table.append(bytes([int(match.group(1), 16)]))
        else:
            table.append(piece.replace("▁", " ").encode())
    return table
