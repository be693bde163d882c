"""TEI's request bodies (text-embeddings-inference v1.9, router/src/http/types.rs), as pydantic models.

``inputs`` stay untyped here: the task that runs them checks them and names the field in its error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["left", "right", "Left", "Right"]


class TeiRequest(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class EmbedRequest(TeiRequest):
    """``POST /embed``: one vector per input, normalised unless asked not to be."""

    inputs: Any = Field(description="A string, token ids, or a list of either")
    normalize: bool = True
    truncate: bool | None = False
    truncation_direction: Direction = "right"
    prompt_name: str | None = None
    dimensions: int | None = Field(default=None, gt=0)


class RerankRequest(TeiRequest):
    """``POST /rerank``: the texts ranked by relevance to the query, best first."""

    query: str
    texts: list[str]
    truncate: bool | None = False
    truncation_direction: Direction = "right"
    raw_scores: bool = False
    return_text: bool = False


class PredictRequest(TeiRequest):
    """``POST /predict``: label scores for a text, a pair of texts, or a batch of either."""

    inputs: Any = Field(description='A string, a pair ["text", "text_pair"], or a list of those')
    truncate: bool | None = False
    truncation_direction: Direction = "right"
    raw_scores: bool = False


class TokenizeRequest(TeiRequest):
    """``POST /tokenize``: each input's tokens with their byte offsets."""

    inputs: Any = Field(description="A string or a list of strings")
    add_special_tokens: bool = True
    prompt_name: str | None = None


class DecodeRequest(TeiRequest):
    """``POST /decode``: token ids back to text."""

    ids: Any = Field(description="A list of token ids, or a list of such lists")
    skip_special_tokens: bool = True
