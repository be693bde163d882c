"""TokenGenerator: a text-generation model at the level of tokens, the interface a runner serves from.

The runner needs four things of a generation model: tokenize a prompt, stream tokens for it, the chat
template and special tokens, and its info. hubserve's own engine (a logits-level backend under a batching
scheduler, ``engine.GenerationEngine``) is one implementation; a backend that brings its own scheduler,
such as llama.cpp's native server, implements this directly beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from hubserve.types.generation import SamplingParams, TokenEvent


class TokenGenerator(Protocol):
    """One loaded text-generation model."""

    name: str  # the backend's name
    context_length: int
    template: str | None
    special_tokens: dict[str, str]

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text``."""

    def token_text(self, token_id: int) -> str:
        """The text one token adds ("" for control tokens)."""

    def stream(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[TokenEvent]:
        """Generate from ``prompt``: one event per token; the last one has a finish reason.

        A prompt with no room left in the context is a ValidationFailed before any event.
        """

    def load(self) -> tuple[int, int]:
        """(sequences running, sequences waiting)."""

    def close(self) -> None:
        """Stop generating and free the model."""
