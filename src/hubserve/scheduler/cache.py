"""ResponseCache: answers of deterministic tasks, keyed by model revision, task and canonical input."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import orjson


class ResponseCache:
    """A bounded LRU of JSON-able answers."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Any] = OrderedDict()

    @staticmethod
    def key(model: str, revision: str, task: str, body: dict[str, Any]) -> str:
        """A digest of everything that decides the answer (not ``options``, which only steer serving)."""
        relevant = {k: v for k, v in body.items() if k != "options"}
        # The body came from orjson, so orjson can always write it back; it is ~10x faster than json here.
        canonical = orjson.dumps([model, revision, task, relevant], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def get(self, key: str) -> Any | None:
        """The cached answer, freshened; None on a miss."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: str, value: Any) -> None:
        """Store an answer, dropping the least recently used beyond the bound."""
        if self.max_entries <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
