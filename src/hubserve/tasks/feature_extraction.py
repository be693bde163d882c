"""feature-extraction: one pooled embedding per input, TEI's shape ``[[...], ...]``."""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from hubserve.errors import ValidationFailed
from hubserve.runtimes.base import LoadedEncoder
from hubserve.tasks.base import (
    CallContext,
    Prepared,
    StrictParams,
    Task,
    check_count,
    text_list,
    truncating_from,
)
from hubserve.tasks.embedding import EmbedInput, Tokenized, embed_tokenized, l2_normalize, tokenize_sorted

_INPUTS = (
    "`inputs` must be a string, a list of strings, a list of token ids, "
    "or a list of strings and token-id lists"
)


class FeatureExtractionParams(StrictParams):
    """Parameters the HF client sends at the body's root (TEI style)."""

    normalize: bool | None = None
    prompt_name: str | None = None
    truncate: bool = False
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"
    dimensions: int | None = Field(default=None, gt=0)
    encoding_format: Literal["float", "base64"] = "float"
    # The tokens each input cost as a last column, for the routes that report usage (OpenAI's, TEI's).
    with_token_counts: bool = False

    @model_validator(mode="after")
    def _counts_need_floats(self) -> FeatureExtractionParams:
        if self.with_token_counts and self.encoding_format == "base64":
            raise ValueError("with_token_counts needs encoding_format 'float': counts cannot ride in base64")
        return self


class FeatureExtraction(Task[FeatureExtractionParams]):
    """Sentence embeddings, pooled as the model's config says."""

    name = "feature-extraction"
    head = "base"
    params_model = FeatureExtractionParams
    root_params = True

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A string, a list of strings, token ids, or a list of strings and token-id lists (TEI, OpenAI)."""
        if _is_ids(inputs):
            return [list(inputs)], True
        if not isinstance(inputs, list) or not any(_is_ids(x) for x in inputs):
            return text_list(inputs, ctx)
        if not all(_is_ids(x) or isinstance(x, str) for x in inputs):
            raise ValidationFailed(_INPUTS, param="inputs")
        texts = [x for x in inputs if isinstance(x, str)]
        if texts:
            text_list(texts, ctx)  # the checks every text gets
        check_count(len(inputs), ctx)
        items: list[EmbedInput] = [x if isinstance(x, str) else list(x) for x in inputs]
        return items, False

    tokenizes_ahead = True

    def run(self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams]) -> Any:
        """Embed every input; slice to ``dimensions`` (Matryoshka) and re-normalise if asked."""
        return self.run_tokenized(model, request, self.tokenize_ahead(model, request))

    def tokenize_ahead(self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams]) -> Tokenized:
        """Prompt, sort and tokenize the inputs, truncating from the side the request names."""
        p = request.params
        with truncating_from(model, p.truncation_direction):
            return tokenize_sorted(model, request.inputs, truncate=p.truncate, prompt_name=p.prompt_name)

    def run_tokenized(
        self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams], tokenized: Tokenized
    ) -> Any:
        """The embeddings of tokenized inputs, in the request's dimensions and encoding."""
        p = request.params
        vectors = embed_tokenized(model, tokenized, normalize=p.normalize)
        if p.dimensions is not None and p.dimensions > vectors.shape[1]:
            raise ValidationFailed(
                f"dimensions={p.dimensions} is more than this model's {vectors.shape[1]}", param="dimensions"
            )
        if p.dimensions is not None and p.dimensions < vectors.shape[1]:
            vectors = vectors[:, : p.dimensions]
            if p.normalize is not False:
                vectors = l2_normalize(vectors)
        if p.encoding_format == "base64":
            return [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        if p.with_token_counts:
            vectors = np.concatenate([vectors, tokenized.token_counts()[:, None]], axis=1)
        # The array itself: the runner sends it to the gateway as raw float32, not as JSON numbers.
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _is_ids(value: Any) -> bool:
    """A non-empty list of token ids: integers, not booleans, at least 0."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    )
