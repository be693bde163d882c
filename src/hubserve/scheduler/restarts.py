"""RestartPolicy: how soon a crashed model starts again, and when it is left failed for a while instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after ``backoff_s``, doubled for each crash within ``window_s`` (at most ``backoff_max_s``).

    The ``max_crashes``-th crash within the window marks the model failed; it is tried again, on a request,
    ``failed_retry_s`` later.
    """

    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    max_crashes: int = 3
    window_s: float = 300.0
    failed_retry_s: float = 60.0

    def recent(self, crashes: Sequence[float], now: float) -> int:
        """Crashes within the window."""
        return sum(1 for t in crashes if now - t <= self.window_s)

    def delay_s(self, crashes: Sequence[float], now: float) -> float | None:
        """Seconds to wait before the next start; None when the model should be marked failed."""
        count = self.recent(crashes, now)
        if count >= self.max_crashes:
            return None
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, count - 1)))
