"""HF Inference API routes: per-model URLs, the pipeline and legacy forms, and POST / for a default model.

Each also answers under ``/hf-inference``, the HF router's prefix that huggingface_hub builds for a Hub
model id (``{INFERENCE_PROXY_TEMPLATE}/models/{id}[/pipeline/{task}]``), and takes a bare ``name`` as
well as ``namespace/name``.

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


def _add(path: str, *params: str) -> None:
    """One HF inference route in the schema, also under the HF router's ``/hf-inference`` prefix."""
    task = "task" in params

    async def endpoint(request: Request) -> Response:
        return await serve(request, _model(request), request.path_params["task"] if task else None)

    endpoint.__doc__ = "Run a named task on the model." if task else "Run the model's own task."
    for prefix in ("", "/hf-inference"):
        router.add_api_route(
            prefix + path, endpoint, methods=["POST"], openapi_extra=_path_params(*params),
            operation_id=f"infer{prefix.replace('/', '_').replace('-', '_')}_{path}",
        )  # fmt: skip


_add("/models/{namespace}/{name}", "namespace", "name")
_add("/models/{name}", "name")
_add("/models/{namespace}/{name}/pipeline/{task}", "namespace", "name", "task")
_add("/models/{name}/pipeline/{task}", "name", "task")
_add("/pipeline/{task}/{namespace}/{name}", "task", "namespace", "name")
_add("/pipeline/{task}/{name}", "task", "name")


@router.post("/")
async def default_model(request: Request) -> Response:
    """Inference Endpoint style: POST / runs the configured default model."""
    return await serve(request, None, None)


def _model(request: Request) -> str:
    params: dict[str, str] = request.path_params
    return f"{params['namespace']}/{params['name']}" if "namespace" in params else params["name"]
