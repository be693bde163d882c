"""text-ranking: a cross-encoder scores each (query, document) pair; the answer ranks them, best first.

The runner scores pairs in the order given, so pairs from many requests batch like any encoder inputs;
the gateway sorts each request's scores (``ranked``). Each pair's row is ``[score, tokens]``: the score is
the sigmoid of the model's single logit (or the activation its sentence-transformers config names, or the
logit itself when raw scores are asked for), and ``tokens`` what the pair cost, for usage.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hubserve.errors import TaskNotSupported, ValidationFailed
from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import (
    CallContext,
    Prepared,
    StrictParams,
    Task,
    parse_model,
    sigmoid,
    text_list,
    tokenize,
    truncating_from,
)

# Activations sentence-transformers' CrossEncoder saves, by the last part of their class path.
ACTIVATIONS = {"Sigmoid": "sigmoid", "Identity": "none", "Tanh": "tanh"}


class RankingInputs(BaseModel):
    """TEI's ``{"query", "texts"}``."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    texts: list[str] = Field(min_length=1)


class LegacyRankingInputs(BaseModel):
    """The api-inference era's sentence-ranking ``{"source_sentence", "sentences"}``."""

    model_config = ConfigDict(extra="forbid")
    source_sentence: str = Field(min_length=1)
    sentences: list[str] = Field(min_length=1)


class RankingParams(StrictParams):
    """Raw logits instead of scores; whether an over-long pair is cut (its longer side first) or refused."""

    raw_scores: bool = False
    truncate: bool = False
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"


def activation(config: dict[str, Any], saved: dict[str, Any]) -> str:
    """The score function a cross-encoder names; sigmoid when it names none.

    ``saved`` is its ``config_sentence_transformers.json`` (sentence-transformers >= 5); older versions
    wrote the name into ``config.json``.
    """
    name = str(
        saved.get("activation_fn")
        or (config.get("sentence_transformers") or {}).get("activation_fn")
        or config.get("sbert_ce_default_activation_function")
        or ""
    )
    return ACTIVATIONS.get(name.rsplit(".", 1)[-1], "sigmoid")


def model_activation(model: LoadedEncoder) -> str:
    """The loaded cross-encoder's score function, read once."""
    name = model.memo.get("activation")
    if not isinstance(name, str):
        path = model.spec.files_dir / "config_sentence_transformers.json"
        saved = json.loads(path.read_text()) if path.is_file() else {}
        name = model.memo["activation"] = activation(model.config, saved if isinstance(saved, dict) else {})
    return name


def pairs_of(query: str, texts: list[str], ctx: CallContext) -> list[list[str]]:
    """The pairs a rerank call scores, after the checks every text input gets."""
    if not query.strip():
        raise ValidationFailed("`query` must not be empty", param="query")
    checked, _ = text_list(texts, ctx, field="texts")
    return [[query, text] for text in checked]


def ranked(scores: list[float], texts: list[str] | None) -> list[dict[str, Any]]:
    """TEI's rerank answer: ``[{index, score, text?}]``, best first (ties keep their order)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if texts is None:
        return [{"index": i, "score": scores[i]} for i in order]
    return [{"index": i, "text": texts[i], "score": scores[i]} for i in order]


class TextRanking(Task[RankingParams]):
    """Cross-encoder relevance of documents to a query."""

    name = "text-ranking"
    head = "sequence-classification"
    params_model = RankingParams
    tokenizes_ahead = True

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """``{"query", "texts"}``, ``{"source_sentence", "sentences"}``, or the pairs themselves."""
        if isinstance(inputs, dict) and "source_sentence" in inputs:
            legacy = parse_model(LegacyRankingInputs, inputs, where="inputs")
            assert isinstance(legacy, LegacyRankingInputs)
            return pairs_of(legacy.source_sentence, legacy.sentences, ctx), False
        if isinstance(inputs, dict):
            parsed = parse_model(RankingInputs, inputs, where="inputs")
            assert isinstance(parsed, RankingInputs)
            return pairs_of(parsed.query, parsed.texts, ctx), False
        raise ValidationFailed('`inputs` must be {"query": str, "texts": [str, ...]}', param="inputs")

    def tokenize_ahead(self, model: LoadedEncoder, request: Prepared[RankingParams]) -> Any:
        """The pairs as one padded batch, cut from the side the request names when it truncates."""
        p = request.params
        with truncating_from(model, p.truncation_direction):
            return tokenize(model, [(query, text) for query, text in request.inputs], truncate=p.truncate)

    def run_tokenized(self, model: LoadedEncoder, request: Prepared[RankingParams], tokenized: Any) -> Any:
        """``[[score, tokens], ...]`` in the pairs' order."""
        logits = model.forward(tokenized)["logits"].astype(np.float64)
        if logits.shape[-1] != 1:
            raise TaskNotSupported(
                f"{model.spec.model_id} has {logits.shape[-1]} labels; text-ranking needs a cross-encoder "
                "with one relevance logit"
            )
        scores = _apply(logits[:, 0], "none" if request.params.raw_scores else model_activation(model))
        tokens = np.asarray(tokenized["attention_mask"]).sum(axis=1)
        return np.stack([scores, tokens], axis=1).astype(np.float32)

    def run(self, model: LoadedEncoder, request: Prepared[RankingParams]) -> Any:
        """Tokenize and score in one go."""
        return self.run_tokenized(model, request, self.tokenize_ahead(model, request))


def _apply(logits: Array, function: str) -> Array:
    if function == "sigmoid":
        return sigmoid(logits)
    if function == "tanh":
        out: Array = np.tanh(logits)
        return out
    return logits
