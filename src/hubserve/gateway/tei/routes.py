"""TEI routes: ``/embed``, ``/rerank``, ``/predict``, ``/tokenize``, ``/decode``, per model and at the root.

Per model they sit under ``/models/{namespace}/{name}/``, beside TGI's ``generate``; at the root they serve
``HUBSERVE_DEFAULT_MODEL``, as a TEI server serves its one model. Errors are TEI's ``{error, error_type}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from hubserve.gateway.callers import Inferrer
from hubserve.gateway.errors import Dialect
from hubserve.gateway.generation import bound_model
from hubserve.gateway.openapi import INFERENCE, errors, json_body
from hubserve.gateway.state import Services, services_dependency
from hubserve.gateway.tei.protocol import (
    DecodeRequest,
    EmbedRequest,
    PredictRequest,
    RerankRequest,
    TokenizeRequest,
)
from hubserve.gateway.tei.service import serve_tei

router = APIRouter(tags=[Dialect.TEI])  # the tag makes errors on these routes TEI-shaped
ServicesDep = Annotated[Services, Depends(services_dependency)]
RESPONSES = errors(*INFERENCE)

ROUTES: dict[str, tuple[type[BaseModel], str]] = {
    "embed": (EmbedRequest, "One embedding per input: [[float, ...], ...]."),
    "rerank": (RerankRequest, "The texts ranked against the query, best first: [{index, score, text?}]."),
    "predict": (
        PredictRequest,
        "Label scores for a text or a pair: [{score, label}], or one list per input.",
    ),
    "tokenize": (TokenizeRequest, "Each input's tokens: [[{id, text, special, start, stop}, ...], ...]."),
    "decode": (DecodeRequest, "Token ids back to text: one string per list of ids."),
}


def _add(route: str, body: type[BaseModel], summary: str) -> None:
    async def default_model(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
        model = bound_model(request, services, None, None)
        return await serve_tei(request, services, principal, model, route)

    async def named_model(
        namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
    ) -> Response:
        return await serve_tei(request, services, principal, f"{namespace}/{name}", route)

    default_model.__doc__ = f"{summary} The default model."
    named_model.__doc__ = f"{summary} A named model."
    extra = json_body(body)
    for path, endpoint, name in (
        (f"/{route}", default_model, f"tei_{route}"),
        (f"/models/{{namespace}}/{{name}}/{route}", named_model, f"tei_model_{route}"),
    ):
        router.add_api_route(
            path, endpoint, methods=["POST"], name=name, responses=RESPONSES, openapi_extra=extra
        )


for _route, (_body, _summary) in ROUTES.items():
    _add(_route, _body, _summary)
