"""Pick the next token from logits: penalties, bias, temperature, top-k, top-p, seeded RNG, logprobs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hubserve.runtimes.generation.base import Logits, SamplingParams

# Top-p over a huge vocabulary sorts only the best candidates; the rest rarely hold any mass.
_TOP_P_CANDIDATES = 2048


@dataclass
class Pick:
    """The chosen token, its log-probability, and the best alternatives when asked for."""

    token: int
    logprob: float
    top: list[tuple[int, float]]


def apply_penalties(
    logits: Logits, params: SamplingParams, history: list[int], generated: Counter[int]
) -> None:
    """Repetition (HF style, prompt and output), frequency/presence (OpenAI style), logit bias; in place."""
    if params.repetition_penalty != 1.0 and history:
        ids = np.fromiter(set(history), dtype=np.int64)
        values = logits[ids]
        logits[ids] = np.where(
            values > 0, values / params.repetition_penalty, values * params.repetition_penalty
        )
    if (params.frequency_penalty or params.presence_penalty) and generated:
        ids = np.fromiter(generated.keys(), dtype=np.int64)
        counts = np.fromiter(generated.values(), dtype=np.float32)
        logits[ids] -= params.frequency_penalty * counts + params.presence_penalty
    for token, bias in params.logit_bias.items():
        if 0 <= token < logits.shape[0]:
            logits[token] += bias


def log_softmax(logits: Logits) -> npt.NDArray[np.float32]:
    """Log-probabilities, stable under -inf entries."""
    finite_max = np.max(logits)
    shifted = logits - finite_max
    out: npt.NDArray[np.float32] = shifted - np.log(np.sum(np.exp(shifted)))
    return out


def choose(logits: Logits, params: SamplingParams, rng: np.random.Generator) -> Pick:
    """Choose one token; logprobs are those of the model's distribution after penalties and masks."""
    token = int(np.argmax(logits)) if params.greedy else _sample(logits, params, rng)
    logprobs = log_softmax(logits)  # always: TGI details and OpenAI logprobs both report the chosen one
    top: list[tuple[int, float]] = []
    if params.logprobs:
        k = min(params.logprobs, logprobs.shape[0])
        best = np.argpartition(-logprobs, k - 1)[:k]
        best = best[np.argsort(-logprobs[best], kind="stable")]
        top = [(int(i), float(logprobs[i])) for i in best]
    return Pick(token=token, logprob=float(logprobs[token]), top=top)


def _sample(logits: Logits, params: SamplingParams, rng: np.random.Generator) -> int:
    scaled = logits.astype(np.float64) / max(params.temperature, 1e-5)
    limit = params.top_k if params.top_k > 0 else 0
    if params.top_p < 1.0:
        limit = min(limit, _TOP_P_CANDIDATES) if limit else _TOP_P_CANDIDATES
    if limit and limit < scaled.shape[0]:
        candidates = np.argpartition(-scaled, limit - 1)[:limit]
    else:
        candidates = np.arange(scaled.shape[0])
    values = scaled[candidates]
    order = np.argsort(-values, kind="stable")
    candidates, values = candidates[order], values[order]
    probs = np.exp(values - values[0])
    probs /= probs.sum()
    if params.top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(probs), params.top_p) + 1)
        candidates, probs = candidates[:keep], probs[:keep] / probs[:keep].sum()
    return int(candidates[rng.choice(len(candidates), p=probs)])
