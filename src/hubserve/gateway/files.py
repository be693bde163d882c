"""Generated files held in memory for a while behind unguessable URLs (OpenAI's ``response_format: "url"``).

A file's name is 32 random bytes (``secrets.token_urlsafe``): whoever has the URL may fetch it, as with
OpenAI's signed links, and nobody can guess one. Files expire after ``ttl_s``; past ``max_bytes`` in all,
the oldest go first.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredFile:
    """One file: its bytes, content type and expiry (on the store's clock)."""

    data: bytes
    content_type: str
    expires_at: float


class ShortLivedFiles:
    """An in-memory, size-bounded store of generated files with a time to live."""

    def __init__(self, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._bytes = 0

    def put(self, data: bytes, content_type: str) -> str:
        """Keep ``data``; return the name to fetch it by."""
        self._expire()
        name = secrets.token_urlsafe(32)
        self._files[name] = StoredFile(data, content_type, self._clock() + self.ttl_s)
        self._bytes += len(data)
        while self._bytes > self.max_bytes and len(self._files) > 1:
            self._drop(next(iter(self._files)))
        return name

    def get(self, name: str) -> StoredFile | None:
        """The file, or None when unknown or expired."""
        self._expire()
        return self._files.get(name)

    def __len__(self) -> int:
        return len(self._files)

    def _expire(self) -> None:
        now = self._clock()
        while self._files:
            name, first = next(iter(self._files.items()))
            if first.expires_at > now:
                return
            self._drop(name)

    def _drop(self, name: str) -> None:
        self._bytes -= len(self._files.pop(name).data)
