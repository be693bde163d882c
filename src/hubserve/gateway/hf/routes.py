"""HF Inference API routes: per-model URLs, the pipeline and legacy forms, and POST / for a default model.

The gateway serves their POSTs from its front (``hf.lane``), ahead of FastAPI's router; the APIRouter
keeps them in the OpenAPI schema and answers their other methods. Both end in ``serve``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hubserve.accounts.principal import Scope
from hubserve.errors import NotFound
from hubserve.gateway.callers import authorize
from hubserve.gateway.hf.service import infer
from hubserve.gateway.state import get_services

router = APIRouter()


async def serve(request: Request, model: str | None, task: str | None) -> Response:
    """One HF inference call: ``model`` None means the configured default model (POST /)."""
    principal = await authorize(request, Scope.INFERENCE)
    services = get_services(request)
    if model is None:
        if not services.settings.default_model:
            raise NotFound(
                "No default model is set (HUBSERVE_DEFAULT_MODEL); POST to /models/{namespace}/{name}"
            )
        model = services.settings.default_model
    return await infer(request, services, principal, model, task)


def _path_params(*names: str) -> dict[str, Any]:
    """OpenAPI entries for path parameters the route reads from the request itself."""
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    return {"parameters": params}


@router.post("/models/{namespace}/{name}", openapi_extra=_path_params("namespace", "name"))
async def model_task(request: Request) -> Response:
    """Run the model's own task (embedding models pick similarity by input shape)."""
    return await serve(request, _model(request), None)


@router.post(
    "/models/{namespace}/{name}/pipeline/{task}", openapi_extra=_path_params("namespace", "name", "task")
)
async def model_pipeline(request: Request) -> Response:
    """Run a named task on the model (the HF router's form)."""
    return await serve(request, _model(request), request.path_params["task"])


@router.post("/pipeline/{task}/{namespace}/{name}", openapi_extra=_path_params("task", "namespace", "name"))
async def legacy_pipeline(request: Request) -> Response:
    """The api-inference era form of the pipeline route."""
    return await serve(request, _model(request), request.path_params["task"])


@router.post("/")
async def default_model(request: Request) -> Response:
    """Inference Endpoint style: POST / runs the configured default model."""
    return await serve(request, None, None)


def _model(request: Request) -> str:
    params: dict[str, str] = request.path_params
    return f"{params['namespace']}/{params['name']}"
