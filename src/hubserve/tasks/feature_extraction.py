"""feature-extraction: one pooled embedding per input, TEI's shape ``[[...], ...]``."""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from pydantic import Field

from hubserve.runtimes.base import LoadedEncoder
from hubserve.tasks.base import CallContext, Prepared, StrictParams, Task, text_list
from hubserve.tasks.embedding import Tokenized, embed_tokenized, l2_normalize, tokenize_sorted


class FeatureExtractionParams(StrictParams):
    """Parameters the HF client sends at the body's root (TEI style)."""

    normalize: bool | None = None
    prompt_name: str | None = None
    truncate: bool = False
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"
    dimensions: int | None = Field(default=None, gt=0)
    encoding_format: Literal["float", "base64"] = "float"


class FeatureExtraction(Task[FeatureExtractionParams]):
    """Sentence embeddings, pooled as the model's config says."""

    name = "feature-extraction"
    head = "base"
    params_model = FeatureExtractionParams
    root_params = True

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A string or a list of strings."""
        return text_list(inputs, ctx)

    tokenizes_ahead = True

    def run(self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams]) -> Any:
        """Embed every input; slice to ``dimensions`` (Matryoshka) and re-normalise if asked."""
        return self.run_tokenized(model, request, self.tokenize_ahead(model, request))

    def tokenize_ahead(self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams]) -> Tokenized:
        """Prompt, sort and tokenize the inputs, truncating from the side the request names."""
        p = request.params
        tokenizer = model.tokenizer
        side = tokenizer.truncation_side
        tokenizer.truncation_side = p.truncation_direction.lower()
        try:
            return tokenize_sorted(model, request.inputs, truncate=p.truncate, prompt_name=p.prompt_name)
        finally:
            tokenizer.truncation_side = side

    def run_tokenized(
        self, model: LoadedEncoder, request: Prepared[FeatureExtractionParams], tokenized: Tokenized
    ) -> Any:
        """The embeddings of tokenized inputs, in the request's dimensions and encoding."""
        p = request.params
        vectors = embed_tokenized(model, tokenized, normalize=p.normalize)
        if p.dimensions is not None and p.dimensions < vectors.shape[1]:
            vectors = vectors[:, : p.dimensions]
            if p.normalize is not False:
                vectors = l2_normalize(vectors)
        if p.encoding_format == "base64":
            return [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        # The array itself: the runner sends it to the gateway as raw float32, not as JSON numbers.
        return np.ascontiguousarray(vectors, dtype=np.float32)
