"""Pick the next token from logits: penalties, bias, temperature, top-k, top-p, seeded RNG, logprobs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hubserve.runtimes.generation.base import Logits
from hubserve.types.generation import SamplingParams

_NEGLIGIBLE = np.float32(30.0)
_CEILING = np.float32(1e30)  # finite still after the smallest temperature (1e-5) divides it
_NUCLEUS_PREFIX = 4096


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
        penalised = np.where(
            values > 0, values / params.repetition_penalty, values * params.repetition_penalty
        )
        # A tiny penalty (1e-300) overflows to +inf, and inf - inf is NaN: sampling would find no
        # candidate and the engine's thread would die. A finite ceiling keeps the order.
        logits[ids] = np.minimum(penalised, _CEILING)
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
    scaled = logits / np.float32(max(params.temperature, 1e-5))
    # A token this far below the best carries under e^-30 of its weight: dropping it changes nothing.
    candidates = np.flatnonzero(scaled >= scaled.max() - _NEGLIGIBLE)  # >=: the best, even at 1e30
    values = scaled[candidates]
    if 0 < params.top_k < len(candidates):
        best = np.argpartition(-values, params.top_k - 1)[: params.top_k]
        candidates, values = candidates[best], values[best]
    weights = np.exp((values - values.max()).astype(np.float64))
    if params.top_p < 1.0:
        candidates, weights = _nucleus(candidates, weights, params.top_p)
    # Inverse-CDF draw: no sort of the (possibly 262k-token) candidate set is needed.
    cdf = np.cumsum(weights)
    return int(candidates[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)])


def _nucleus(
    candidates: npt.NDArray[np.intp], weights: npt.NDArray[np.float64], top_p: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """The smallest set of most likely tokens whose probability reaches ``top_p``."""
    total = weights.sum()
    if len(weights) > _NUCLEUS_PREFIX:
        head = np.argpartition(-weights, _NUCLEUS_PREFIX - 1)[:_NUCLEUS_PREFIX]
        if weights[head].sum() >= top_p * total:  # the nucleus lies inside the head: sort only that
            candidates, weights = candidates[head], weights[head]
    order = np.argsort(-weights, kind="stable")
    candidates, weights = candidates[order], weights[order]
    keep = int(np.searchsorted(np.cumsum(weights), top_p * total)) + 1
    return candidates[:keep], weights[:keep]
