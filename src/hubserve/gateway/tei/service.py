"""TEI's embed, rerank, predict, tokenize and decode over the encoder tasks, in TEI's answer shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import Response

from hubserve.accounts.principal import Principal
from hubserve.errors import ValidationFailed
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.encoding import call_context, run_encoder
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.ranking import rerank
from hubserve.gateway.state import Services
from hubserve.gateway.tei.protocol import (
    DecodeRequest,
    EmbedRequest,
    PredictRequest,
    RerankRequest,
    TeiRequest,
    TokenizeRequest,
)
from hubserve.tasks.base import Envelope, parse_model
from hubserve.tasks.registry import TASKS
from hubserve.tasks.text_ranking import RankingParams, ranked

_TASK_OF_ROUTE = {
    "embed": "feature-extraction",
    "rerank": "text-ranking",
    "predict": "text-classification",
    "tokenize": "tokenize",
    "decode": "decode",
}


async def serve_tei(
    request: Request, services: Services, principal: Principal, model: str, route: str
) -> Response:
    """One TEI call on ``model``; ``route`` is the last part of its path."""
    body = await read_object(request)
    meter = meter_of(request)
    admission = await services.access.admit(meter, principal, model, task=_TASK_OF_ROUTE[route], route="tei")
    handler = _HANDLERS[route]
    return await handler(request, services, admission, body)


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), 200, headers, "application/json")


async def _run(
    request: Request, services: Services, admission: Admission, task_name: str, envelope: Envelope
) -> Any:
    """Prepare ``envelope`` for the task (its checks and errors), then run it like every encoder call."""
    task = TASKS[task_name]
    prepared = task.prepare(envelope, call_context(request, services))
    options = serve_options(request, services.settings)
    return await run_encoder(services, admission, meter_of(request), task.to_call(prepared), options)


async def _embed(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = _parse(EmbedRequest, data)
    admission.require("feature-extraction")
    params = body.model_dump(exclude={"inputs"})
    params["truncate"] = bool(body.truncate)
    params["with_token_counts"] = True
    rows = await _run(
        request, services, admission, "feature-extraction", Envelope(inputs=body.inputs, parameters=params)
    )
    meter_of(request).count(int(rows[:, -1].sum()), len(rows), "tokens")
    return _json(np.ascontiguousarray(rows[:, :-1]))


async def _rerank(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = _parse(RerankRequest, data)
    params = RankingParams(
        raw_scores=body.raw_scores,
        truncate=bool(body.truncate),
        truncation_direction=body.truncation_direction,
    )
    options = serve_options(request, services.settings)
    ctx = call_context(request, services)
    ranking = await rerank(
        services, admission, meter_of(request), options, ctx, body.query, body.texts, params
    )
    return _json(ranked(ranking.scores, body.texts if body.return_text else None), ranking.headers())


async def _predict(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = _parse(PredictRequest, data)
    admission.require("text-classification")
    items, single = predict_inputs(body.inputs)
    params: dict[str, Any] = {
        "truncate": bool(body.truncate),
        "truncation_direction": body.truncation_direction,
    }
    if body.raw_scores:
        params["function_to_apply"] = "none"
    result = await _run(
        request, services, admission, "text-classification", Envelope(inputs=items, parameters=params)
    )
    meter_of(request).count(len(items), len(items), "items")
    return _json(result[0] if single else result)


async def _tokenize(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = _parse(TokenizeRequest, data)
    params = body.model_dump(exclude={"inputs"})
    result = await _run(
        request, services, admission, "tokenize", Envelope(inputs=body.inputs, parameters=params)
    )
    meter_of(request).count(len(result), sum(len(r) for r in result), "tokens")
    return _json(result)


async def _decode(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = _parse(DecodeRequest, data)
    params = {"skip_special_tokens": body.skip_special_tokens}
    result = await _run(request, services, admission, "decode", Envelope(inputs=body.ids, parameters=params))
    meter_of(request).count(len(result), len(result), "items")
    return _json(result)


_HANDLERS = {
    "embed": _embed,
    "rerank": _rerank,
    "predict": _predict,
    "tokenize": _tokenize,
    "decode": _decode,
}


def _parse(model: type[TeiRequest], data: dict[str, Any]) -> Any:
    return parse_model(model, data, where="")


def predict_inputs(inputs: Any) -> tuple[list[str | list[str]], bool]:
    """TEI's reading of predict inputs: a string, or a pair ``[a, b]``, is one input; a list of lists a batch.

    ``["a", "b"]`` is one pair, not two texts, as in TEI; a batch is ``[["a"], ["b", "c"], ...]``.
    """
    if isinstance(inputs, str):
        return [inputs], True
    if isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs):
        if len(inputs) > 2:
            raise ValidationFailed(_PREDICT_SHAPE, param="inputs")
        return [inputs[0] if len(inputs) == 1 else list(inputs)], True
    if isinstance(inputs, list) and inputs and all(_sequence(x) for x in inputs):
        return [x[0] if len(x) == 1 else list(x) for x in inputs], False
    raise ValidationFailed(_PREDICT_SHAPE, param="inputs")


_PREDICT_SHAPE = (
    '`inputs` must be a string, a pair of strings ["text", "text_pair"], or a batch of them '
    '[["text"], ["text", "text_pair"], ...]'
)


def _sequence(value: Any) -> bool:
    return isinstance(value, list) and len(value) in (1, 2) and all(isinstance(x, str) for x in value)
