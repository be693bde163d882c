"""The runner contract: what the scheduler needs from a running model, and how one is started.

A runner is one model ready to serve: calls in, memory out, and a way to stop it. The local process
(``runners.parent``) is the first implementation; the registry in ``scheduler.factory`` picks one by name.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Any, Protocol

from hubserve.protocol import EncodeCall, GenerateCall, Generation, GenerationInfo, RunnerOptions


class Runner(Protocol):
    """A loaded model in its own process (or a fake one in tests)."""

    model: str
    generation: GenerationInfo | None
    load_s: float

    async def encode(self, call: EncodeCall) -> Any:
        """Run an encoder call the gateway prepared."""

    async def generate(self, call: GenerateCall) -> Generation:
        """Start one generation; returns once its first token (or its error) is there."""

    async def stream(self, call: EncodeCall) -> AsyncGenerator[dict[str, Any], None]:
        """Start a pipeline call answered in pieces; returns once its first piece (or its error) is there."""

    async def memory_bytes(self) -> int:
        """Resident memory."""

    async def stopped(self) -> int:
        """Resolves when the runner exits."""

    async def healthy(self) -> bool:
        """Whether the runner answers a health check in time."""

    async def progress(self) -> dict[str, Any] | None:
        """The pipeline call it is on (task, step, steps), or None."""

    async def stop(self) -> None:
        """Stop gracefully."""

    def kill(self) -> None:
        """Stop at once."""


class Starter(Protocol):
    """Starts a runner with ``model`` loaded; ``options`` are a deployment's env and threads."""

    def __call__(self, model: str, options: RunnerOptions | None = None) -> Awaitable[Runner]: ...
