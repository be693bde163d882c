"""``POST /v1/rerank`` and ``/v2/rerank``: the body Cohere's and Jina's clients post, and their answer.

LangChain's and LlamaIndex's Cohere- and Jina-compatible rerankers send ``{model, query, documents,
top_n, return_documents}`` and read ``results[].index`` and ``results[].relevance_score``. Documents longer
than the model takes are cut, as Cohere cuts them; ``"truncate": false`` refuses them instead. Errors are
Cohere's ``{"message"}``, with hubserve's error type in ``X-Error-Type``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hubserve.errors import ValidationFailed
from hubserve.gateway.callers import Inferrer
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.encoding import call_context
from hubserve.gateway.errors import Dialect
from hubserve.gateway.generation import bound_model
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.openapi import INFERENCE, errors, json_body
from hubserve.gateway.ranking import rerank
from hubserve.gateway.state import Services, services_dependency
from hubserve.tasks.base import parse_model
from hubserve.tasks.text_ranking import RankingParams, ranked

router = APIRouter(tags=[Dialect.COHERE])
ServicesDep = Annotated[Services, Depends(services_dependency)]


class RerankBody(BaseModel):
    """Cohere's rerank request (v1 and v2), which Jina's API shares."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    query: str
    documents: list[str | dict[str, Any]] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False
    rank_fields: list[str] | None = Field(default=None, min_length=1)
    truncate: bool = True


def document_text(document: str | dict[str, Any], rank_fields: list[str] | None, index: int) -> str:
    """What a document is ranked on: the string, its ``text``, or its ``rank_fields`` as ``key: value``."""
    if isinstance(document, str):
        return document
    fields = rank_fields or ["text"]
    missing = [f for f in fields if not isinstance(document.get(f), str)]
    if missing:
        raise ValidationFailed(
            f"documents[{index}] has no string field {missing[0]!r}; a document is a string, or an "
            "object with 'text' (or the fields rank_fields names)",
            param=f"documents.{index}",
        )
    if rank_fields is None:
        return str(document["text"])
    return "\n".join(f"{f}: {document[f]}" for f in fields)


async def _rerank(request: Request, principal: Inferrer, services: ServicesDep, version: str) -> JSONResponse:
    body = parse_model(RerankBody, await read_object(request), where="")
    assert isinstance(body, RerankBody)
    meter = meter_of(request)
    admission = await services.access.admit(
        meter,
        principal,
        bound_model(request, services, body.model, None),
        task="text-ranking",
        route="rerank",
    )
    texts = [document_text(d, body.rank_fields, i) for i, d in enumerate(body.documents)]
    params = RankingParams(truncate=body.truncate)
    options = serve_options(request, services.settings)
    ranking = await rerank(
        services, admission, meter, options, call_context(request, services), body.query, texts, params
    )
    results = []
    for best in ranked(ranking.scores, None)[: body.top_n]:
        i = best["index"]
        result: dict[str, Any] = {"index": i, "relevance_score": best["score"]}
        if body.return_documents:
            document = body.documents[i]
            result["document"] = {"text": texts[i]} if isinstance(document, str) else document
        results.append(result)
    answer = {
        "id": meter.request_id,
        "model": admission.name,
        "results": results,
        "meta": {"api_version": {"version": version}, "billed_units": {"search_units": 1}},
        "usage": {"prompt_tokens": ranking.tokens, "total_tokens": ranking.tokens},
    }
    return JSONResponse(answer, headers=ranking.headers())


RESPONSES = errors(*INFERENCE)


@router.post("/v1/rerank", responses=RESPONSES, openapi_extra=json_body(RerankBody))
async def rerank_v1(request: Request, principal: Inferrer, services: ServicesDep) -> JSONResponse:
    """Rerank documents against a query (Cohere v1, Jina): results best first, cut to top_n."""
    return await _rerank(request, principal, services, "1")


@router.post("/v2/rerank", responses=RESPONSES, openapi_extra=json_body(RerankBody))
async def rerank_v2(request: Request, principal: Inferrer, services: ServicesDep) -> JSONResponse:
    """The same, as Cohere's v2 client posts it."""
    return await _rerank(request, principal, services, "2")
