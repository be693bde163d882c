"""The generation contract: sampling parameters, per-token events, and what a backend must provide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]
FinishReason = Literal["length", "eos_token", "stop_sequence"]


@dataclass(frozen=True)
class Constraint:
    """Structured output: ``json`` (any JSON object), ``json_schema`` (value is a schema), or ``regex``."""

    kind: Literal["json", "json_schema", "regex"]
    value: Any = None


@dataclass(frozen=True)
class SamplingParams:
    """How to pick each next token, and when to stop."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # number of top alternatives to report; None = no logprobs
    logit_bias: dict[int, float] = field(default_factory=dict)
    constraint: Constraint | None = None
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        """Whether sampling reduces to argmax."""
        return not self.do_sample or self.temperature <= 0.0 or self.top_k == 1


@dataclass(frozen=True)
class TopLogprob:
    """One alternative token and its log-probability."""

    id: int
    text: str
    logprob: float


@dataclass(frozen=True)
class TokenEvent:
    """One generated token, the text it releases, and, on the last event, why generation ended."""

    id: int
    text: str  # the token's own text
    delta: str  # newly released text (UTF-8 complete, stop-sequence safe); may be ""
    logprob: float
    special: bool
    top: tuple[TopLogprob, ...] = ()
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seed: int | None = None


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
