"""Progress of the pipeline call a runner is on: the step it has reached, and a way to stop it."""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """One pipeline call at a time (the host runs them one by one): its task, steps, and a stop flag."""

    def __init__(self) -> None:
        self.task: str | None = None
        self.call_id = ""
        self.done = 0
        self.total = 0
        self.started = 0.0
        self.cancelled = False

    def begin(self, task: str, call_id: str = "") -> None:
        """A call of ``task`` starts."""
        self.task, self.call_id, self.done, self.total, self.cancelled = task, call_id, 0, 0, False
        self.started = time.monotonic()

    def step(self, done: int, total: int) -> bool:
        """The call reached step ``done`` of ``total``; False once it was asked to stop."""
        self.done, self.total = done, total
        return not self.cancelled

    def cancel(self) -> bool:
        """Ask the running call to stop at its next step; False when none is running."""
        if self.task is None:
            return False
        self.cancelled = True
        return True

    def end(self) -> None:
        """The call is over."""
        self.task, self.call_id = None, ""

    def view(self) -> dict[str, Any] | None:
        """What ``/api/ps`` shows of it, or None when no call is running."""
        if self.task is None:
            return None
        return {
            "task": self.task,
            "step": self.done,
            "steps": self.total,
            "running_s": round(time.monotonic() - self.started, 3),
        }
