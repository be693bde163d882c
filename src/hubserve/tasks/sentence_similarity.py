"""sentence-similarity: cosine similarity of one source sentence to each of several others."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hubserve.runtimes.base import LoadedEncoder
from hubserve.tasks.base import CallContext, Prepared, StrictParams, Task, parse_model, text_list
from hubserve.tasks.embedding import embed


class SimilarityInputs(BaseModel):
    """``{"source_sentence": str, "sentences": [str, ...]}``."""

    model_config = ConfigDict(extra="forbid")
    source_sentence: str = Field(min_length=1)
    sentences: list[str] = Field(min_length=1)


class SimilarityParams(StrictParams):
    """Optional embedding parameters."""

    prompt_name: str | None = None
    truncate: bool = False


class SentenceSimilarity(Task[SimilarityParams]):
    """Cosine similarities between normalised embeddings."""

    name = "sentence-similarity"
    head = "base"
    params_model = SimilarityParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """Source sentence plus a non-empty list of sentences."""
        parsed = parse_model(SimilarityInputs, inputs, where="inputs")
        assert isinstance(parsed, SimilarityInputs)
        texts, _ = text_list([parsed.source_sentence, *parsed.sentences], ctx, field="inputs.sentences")
        return texts, True

    def run(self, model: LoadedEncoder, request: Prepared[SimilarityParams]) -> Any:
        """One batch: the source and every sentence; answer ``[score, ...]``."""
        p = request.params
        vectors = embed(model, request.inputs, truncate=p.truncate, normalize=True, prompt_name=p.prompt_name)
        return (vectors[1:] @ vectors[0]).astype(float).tolist()
