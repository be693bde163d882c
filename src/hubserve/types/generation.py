"""Generation values: sampling parameters, structured-output constraints, and per-token events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["length", "eos_token", "stop_sequence"]
# Seeds are TGI's u64; the runner protocol (orjson) carries no wider integer.
MAX_SEED = 2**64 - 1


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
