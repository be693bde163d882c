"""Rerank documents against a query on any model that can: a cross-encoder, or an embedder by cosine.

TEI's ``/rerank``, Cohere's and Jina's ``/v1/rerank`` and the HF route for a text-ranking model all end
here. A cross-encoder scores each (query, document) pair; a model that only embeds ranks by the cosine
of the query's and each document's normalised embeddings, as zero-shot does, and the answer says so in
``x-rerank-method``. Either way the runner's call goes through the batcher like every encoder call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from hubserve.errors import TaskNotSupported
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import ServeOptions
from hubserve.gateway.encoding import run_encoder
from hubserve.gateway.metering import Meter
from hubserve.gateway.state import Services
from hubserve.tasks.base import CallContext, Prepared
from hubserve.tasks.feature_extraction import FeatureExtraction, FeatureExtractionParams
from hubserve.tasks.registry import TASKS
from hubserve.tasks.text_ranking import RankingParams, TextRanking, pairs_of

Method = Literal["cross-encoder", "cosine-similarity"]
CROSS_ENCODER: Final = "cross-encoder"
COSINE: Final = "cosine-similarity"
METHOD_HEADER = "x-rerank-method"


@dataclass(frozen=True)
class Ranking:
    """Each document's score in the order sent, the tokens the call cost, and how it was scored."""

    scores: list[float]
    tokens: int
    method: Method

    def headers(self) -> dict[str, str]:
        """The response headers that tell the caller how the documents were scored."""
        return {METHOD_HEADER: self.method}


def rerank_method(admission: Admission) -> Method:
    """How this model reranks; a model that does neither is task_not_supported."""
    tasks = admission.manifest.tasks
    if TextRanking.name in tasks:
        return CROSS_ENCODER
    if FeatureExtraction.name in tasks:
        return COSINE
    raise TaskNotSupported(
        f"Model {admission.model_id} cannot rerank: it is neither a cross-encoder (text-ranking) nor an "
        f"embedding model; it serves: {', '.join(tasks)}"
    )


async def rerank(
    services: Services,
    admission: Admission,
    meter: Meter,
    options: ServeOptions,
    ctx: CallContext,
    query: str,
    texts: list[str],
    params: RankingParams,
) -> Ranking:
    """Score ``texts`` against ``query`` on the admitted model."""
    method = rerank_method(admission)
    pairs = pairs_of(query, texts, ctx)  # the checks first, whichever way the model scores
    if method == CROSS_ENCODER:
        call = TASKS[TextRanking.name].to_call(Prepared(pairs, params, single=False))
        rows = await run_encoder(services, admission, meter, call, options)
        scores, tokens = rows[:, 0], int(rows[:, 1].sum())
    else:
        embed_params = FeatureExtractionParams(
            normalize=True,
            truncate=params.truncate,
            truncation_direction=params.truncation_direction,
            with_token_counts=True,
        )
        call = TASKS[FeatureExtraction.name].to_call(Prepared([query, *texts], embed_params, single=False))
        rows = await run_encoder(services, admission, meter, call, options)
        vectors = np.asarray(rows[:, :-1], dtype=np.float64)
        scores, tokens = vectors[1:] @ vectors[0], int(rows[:, -1].sum())
    meter.task = TextRanking.name
    meter.count(tokens, len(texts), "tokens")
    return Ranking([float(s) for s in scores], tokens, method)
