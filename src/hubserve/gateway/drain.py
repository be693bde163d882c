"""Drain: the server's graceful shutdown as the gateway sees it: when it began, and when in-flight work ends.

On SIGTERM the server stops accepting connections and calls ``begin()``. Requests and streams already
running may finish for ``grace_s``; then ``over`` turns true and every generation still streaming ends
with a final ``shutting_down`` error event, so no client is cut off without a word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Drain:
    """One server's shutdown state; ``begin()`` runs in the server's event loop."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.begun = False
        self.over = False
        self._on_begin: list[Callable[[], None]] = []

    def on_begin(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when shutdown begins (the scheduler cancels its loads: nobody waits for them)."""
        self._on_begin.append(hook)

    def begin(self) -> None:
        """Shutdown has begun: in-flight work has ``grace_s`` left."""
        if self.begun:
            return
        self.begun = True
        log.info("shutting down: in-flight requests have %.0fs to finish", self.grace_s)
        asyncio.get_running_loop().call_later(self.grace_s, self._end)
        for hook in self._on_begin:
            hook()

    def _end(self) -> None:
        self.over = True
