"""TGI routes: ``/generate`` and ``/generate_stream`` for the default model or a named one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hubserve.accounts.principal import Principal
from hubserve.gateway.callers import Inferrer
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.generation import Generator, bound_model, serve_generation
from hubserve.gateway.json_body import read_inputs_body
from hubserve.gateway.metering import meter_of
from hubserve.gateway.openapi import INFERENCE, SSE, errors, json_body
from hubserve.gateway.state import Services, services_dependency
from hubserve.gateway.textgen.protocol import GenerateRequest
from hubserve.gateway.textgen.service import generate
from hubserve.tasks.base import parse_model

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]
BODY = json_body(GenerateRequest)
RESPONSES = errors(*INFERENCE)
STREAM = {200: {"description": "TGI token events", "content": SSE}, **errors(*INFERENCE)}


async def _serve(
    request: Request, services: Services, principal: Principal, model: str | None, *, stream: bool
) -> Response:
    admission = await services.access.admit(
        meter_of(request),
        principal,
        bound_model(request, services, None, model),
        task="text-generation",
        route="tgi",
    )
    body = parse_model(GenerateRequest, await read_inputs_body(request), where="body")
    assert isinstance(body, GenerateRequest)
    body.stream = stream
    options = serve_options(request, services.settings, body.options)

    async def handler(generator: Generator) -> Response:
        return await generate(generator, body, full_text_default=False, as_list=False)

    return await serve_generation(request, services, admission, options, handler)


@router.post("/generate", responses=RESPONSES, openapi_extra=BODY)
async def tgi_generate(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Generate for the default model; one JSON object."""
    return await _serve(request, services, principal, None, stream=False)


@router.post("/generate_stream", responses=STREAM, openapi_extra=BODY)
async def tgi_generate_stream(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Generate for the default model as SSE token events."""
    return await _serve(request, services, principal, None, stream=True)


@router.post("/models/{namespace}/{name}/generate", responses=RESPONSES, openapi_extra=BODY)
async def model_generate(
    namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Generate for a named model; one JSON object."""
    return await _serve(request, services, principal, f"{namespace}/{name}", stream=False)


@router.post("/models/{namespace}/{name}/generate_stream", responses=STREAM, openapi_extra=BODY)
async def model_generate_stream(
    namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Generate for a named model as SSE token events."""
    return await _serve(request, services, principal, f"{namespace}/{name}", stream=True)
