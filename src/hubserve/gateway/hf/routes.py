"""HF Inference API routes: per-model URLs, the pipeline and legacy forms, and POST / for a default model.

These are the busiest routes, so they take the bare request: they name their caller with a plain call
rather than a dependency, and read path parameters from the request rather than from typed arguments.
The app serves their POSTs as plain Starlette routes from its innermost middleware, ahead of the router
(``plain_routes``, ``gateway.fast_lane``); the APIRouter keeps them in the OpenAPI schema. Measured
in-process, with the model stubbed out, the first three steps took a request from 172 to 64 us
(dependencies and typed parameters ~60 us, FastAPI's request handling ~35 us).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Route

from hubserve.accounts.principal import Scope
from hubserve.errors import NotFound
from hubserve.gateway.callers import authorize
from hubserve.gateway.hf.service import infer
from hubserve.gateway.state import get_services

router = APIRouter()


def _path_params(*names: str) -> dict[str, Any]:
    """OpenAPI entries for path parameters the route reads from the request itself."""
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    return {"parameters": params}


@router.post("/models/{namespace}/{name}", openapi_extra=_path_params("namespace", "name"))
async def model_task(request: Request) -> Response:
    """Run the model's own task (embedding models pick similarity by input shape)."""
    principal = await authorize(request, Scope.INFERENCE)
    return await infer(request, get_services(request), principal, _model(request), None)


@router.post(
    "/models/{namespace}/{name}/pipeline/{task}", openapi_extra=_path_params("namespace", "name", "task")
)
async def model_pipeline(request: Request) -> Response:
    """Run a named task on the model (the HF router's form)."""
    principal = await authorize(request, Scope.INFERENCE)
    return await infer(request, get_services(request), principal, _model(request), _task(request))


@router.post("/pipeline/{task}/{namespace}/{name}", openapi_extra=_path_params("task", "namespace", "name"))
async def legacy_pipeline(request: Request) -> Response:
    """The api-inference era form of the pipeline route."""
    principal = await authorize(request, Scope.INFERENCE)
    return await infer(request, get_services(request), principal, _model(request), _task(request))


@router.post("/")
async def default_model(request: Request) -> Response:
    """Inference Endpoint style: POST / runs the configured default model."""
    principal = await authorize(request, Scope.INFERENCE)
    services = get_services(request)
    if not services.settings.default_model:
        raise NotFound("No default model is set (HUBSERVE_DEFAULT_MODEL); POST to /models/{namespace}/{name}")
    return await infer(request, services, principal, services.settings.default_model, None)


def _model(request: Request) -> str:
    params: dict[str, str] = request.path_params
    return f"{params['namespace']}/{params['name']}"


def _task(request: Request) -> str:
    task: str = request.path_params["task"]
    return task


def plain_routes() -> list[Route]:
    """The router's endpoints as plain Starlette routes, which skip FastAPI's per-request handling."""
    return [
        Route(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
