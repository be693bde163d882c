"""Autoscaler: how many replicas an endpoint wants, from its pending requests per replica over time.

Pending requests are those its replicas run plus those queued for them. Above ``threshold`` per replica
for ``up_after_s``, one more replica (up to ``max_replicas``); with one fewer replica still at or under the
threshold for ``down_after_s`` (the stabilisation window), one fewer (down to ``min_replicas``, and never
to zero: scaling to zero is the idle timeout's). Pure: the caller passes the clock's time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Autoscaler:
    """The scaling rule of one endpoint and the moments its load crossed it."""

    min_replicas: int
    max_replicas: int
    threshold: float
    up_after_s: float = 0.0
    down_after_s: float = 300.0
    _above_since: float | None = None
    _below_since: float | None = None

    def decide(self, replicas: int, pending: int, now: float) -> int:
        """The replicas wanted now, given ``replicas`` wanted so far (0 stays 0: a request wakes it)."""
        if replicas == 0:
            self._above_since = self._below_since = None
            return 0
        if pending > self.threshold * replicas and replicas < self.max_replicas:
            self._below_since = None
            self._above_since = now if self._above_since is None else self._above_since
            if now - self._above_since >= self.up_after_s:
                self._above_since = None
                return replicas + 1
            return replicas
        self._above_since = None
        floor = max(1, self.min_replicas)
        if replicas > floor and pending <= self.threshold * (replicas - 1):
            self._below_since = now if self._below_since is None else self._below_since
            if now - self._below_since >= self.down_after_s:
                self._below_since = None
                return replicas - 1
            return replicas
        self._below_since = None
        return replicas
