"""What the scheduler needs from a running model: calls in, memory out, and a way to stop it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Protocol

from hubserve.runners.client import GenerationInfo
from hubserve.runtimes.generation.base import SamplingParams, TokenEvent
from hubserve.tasks.base import CallContext


class Runner(Protocol):
    """A loaded model in its own process (or a fake one in tests)."""

    model: str
    generation: GenerationInfo | None
    load_s: float

    async def encode(self, task: str, envelope: dict[str, Any], ctx: CallContext) -> Any:
        """Run an encoder task."""

    async def tokenize(self, text: str, *, add_special: bool) -> tuple[list[int], list[str]]:
        """Token ids and texts."""

    def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Token events of one generation."""

    async def memory_bytes(self) -> int:
        """Resident memory."""

    async def stopped(self) -> int:
        """Resolves when the runner exits."""

    async def stop(self) -> None:
        """Stop gracefully."""

    def kill(self) -> None:
        """Stop at once."""


Starter = Callable[[str], Awaitable[Runner]]
