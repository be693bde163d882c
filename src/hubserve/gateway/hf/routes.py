"""HF Inference API routes: per-model URLs, the pipeline and legacy forms, and POST / for a default model.

Each also answers under ``/hf-inference``, the HF router's prefix that huggingface_hub builds for a Hub
model id (``{INFERENCE_PROXY_TEMPLATE}/models/{id}[/pipeline/{task}]``), and takes a bare ``name`` as
well as ``namespace/name``.

The gateway serves their POSTs from its front (``gateway.lane``), ahead of FastAPI's router; the APIRouter
keeps them in the OpenAPI schema and answers their other methods. Both end in ``serve``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hubserve.accounts.principal import Scope
from hubserve.gateway.callers import authorize
from hubserve.gateway.generation import bound_model
from hubserve.gateway.hf.service import infer
from hubserve.gateway.openapi import INFERENCE, errors, json_body, streaming
from hubserve.gateway.state import get_services
from hubserve.tasks.base import Envelope

router = APIRouter()
# The body is the task's: {"inputs", "parameters", "options"} (feature-extraction: parameters at the root).
BODY = json_body(Envelope)
RESPONSES = {**streaming("The task's answer; SSE for a text-generation stream"), **errors(*INFERENCE)}


async def serve(request: Request, model: str | None, task: str | None) -> Response:
    """One HF inference call: ``model`` None means the configured default model (POST /)."""
    principal = await authorize(request, Scope.INFERENCE)
    services = get_services(request)
    if model is None:
        model = bound_model(request, services, None, None)
    return await infer(request, services, principal, model, task)


def _path_params(*names: str) -> dict[str, Any]:
    """OpenAPI entries for path parameters the route reads from the request itself."""
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    return {"parameters": params, **BODY}


def _add(path: str, name: str, summary: str) -> None:
    """One HF inference route in the schema, also under the HF router's ``/hf-inference`` prefix."""
    params = _path_params(*re.findall(r"\{(\w+)\}", path))

    async def endpoint(request: Request) -> Response:
        return await serve(request, _model(request), request.path_params.get("task"))

    endpoint.__doc__ = summary
    for prefix in ("", "/hf-inference"):
        route_name = f"{name}{'_router' if prefix else ''}"
        router.add_api_route(
            prefix + path,
            endpoint,
            methods=["POST"],
            name=route_name,
            responses=RESPONSES,
            openapi_extra=params,
        )


_add("/models/{namespace}/{name}", "model_task", "Run the model's own task (embedders pick by input shape).")
_add("/models/{name}", "bare_model_task", "The same, for an old un-namespaced model id.")
_add("/models/{namespace}/{name}/pipeline/{task}", "model_pipeline", "Run a named task (the router's form).")
_add("/models/{name}/pipeline/{task}", "bare_model_pipeline", "The same, for an old un-namespaced model id.")
_add("/pipeline/{task}/{namespace}/{name}", "legacy_pipeline", "The api-inference era pipeline route.")
_add("/pipeline/{task}/{name}", "bare_legacy_pipeline", "The same, for an old un-namespaced model id.")


@router.post("/", responses=RESPONSES, openapi_extra=BODY)
async def default_model(request: Request) -> Response:
    """Inference Endpoint style: POST / runs the configured default model."""
    return await serve(request, None, None)


def _model(request: Request) -> str:
    params: dict[str, str] = request.path_params
    return f"{params['namespace']}/{params['name']}" if "namespace" in params else params["name"]
