"""The generation contract: what a logits-level backend must provide."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]


class GenerationBackend(Protocol):
    """A causal LM that can hold several sequences at once, each in a numbered slot."""

    name: str
    context_length: int
    vocab_size: int
    max_slots: int
    eos_token_ids: frozenset[int]

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text``."""

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token adds to the output (empty for control tokens)."""

    def is_special(self, token_id: int) -> bool:
        """Whether the token is a control token."""

    def prefill(self, slot: int, ids: list[int]) -> Logits:
        """Feed a prompt into an empty slot; return the next-token logits."""

    def decode(self, steps: list[tuple[int, int, int]]) -> npt.NDArray[np.float32]:
        """One token for each (slot, token id, position); return logits, one row per step."""

    def free(self, slot: int) -> None:
        """Forget a slot's cache."""

    def chat_template(self) -> str | None:
        """The model's own Jinja chat template, if it has one."""

    def special_tokens(self) -> dict[str, str]:
        """bos_token / eos_token strings for templates."""

    def grammar_vocab(self) -> list[bytes]:
        """Every token's bytes, in id order, for grammar engines."""
