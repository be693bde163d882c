"""OpenAI routes, plus the per-model chat URL huggingface_hub builds for ``model=http://host/models/ORG/NAME``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from hubserve.accounts.principal import Principal
from hubserve.errors import ValidationFailed
from hubserve.gateway.callers import Inferrer, Reader
from hubserve.gateway.cold_start import ServeOptions, serve_options
from hubserve.gateway.generation import Generator, bound_model, serve_generation
from hubserve.gateway.metering import meter_of
from hubserve.gateway.openai.protocol import ChatRequest, CompletionRequest
from hubserve.gateway.openai.service import chat, completions
from hubserve.gateway.state import Services, services_dependency
from hubserve.hub.manifest import Manifest
from hubserve.hub.names import ModelId
from hubserve.tasks.base import parse_model

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    return parse_model(model, data, where="")


async def _chat(
    request: Request, services: Services, principal: Principal, url_model: str | None
) -> Response:
    body = await _body(request, ChatRequest)

    async def handler(generator: Generator) -> Response:
        return await chat(generator, body)

    model = bound_model(services, body.model, url_model)
    manifest = await services.access.admit(
        meter_of(request), principal, model, task="chat-completion", route="openai"
    )
    return await serve_generation(
        request, services, manifest, _options(request, services, body.keep_alive), handler
    )


def _options(request: Request, services: Services, keep_alive: float | None) -> ServeOptions:
    return serve_options(request, services.settings, keep_alive_s=keep_alive)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Chat with the model named in the body (or the default model for "dummy"/"tgi")."""
    return await _chat(request, services, principal, None)


@router.post("/models/{namespace}/{name}/v1/chat/completions")
async def model_chat_completions(
    namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Chat with the model in the URL (huggingface_hub sends model "dummy" here)."""
    return await _chat(request, services, principal, f"{namespace}/{name}")


@router.post("/v1/completions")
async def text_completions(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Complete a prompt with the model named in the body."""
    body = await _body(request, CompletionRequest)

    async def handler(generator: Generator) -> Response:
        return await completions(generator, body)

    model = bound_model(services, body.model, None)
    manifest = await services.access.admit(
        meter_of(request), principal, model, task="text-generation", route="openai"
    )
    return await serve_generation(
        request, services, manifest, _options(request, services, body.keep_alive), handler
    )


def _model_card(manifest: Manifest) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "object": "model",
        "created": _created(manifest),
        "owned_by": manifest.id.split("/")[0],
    }


def _created(manifest: Manifest) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(manifest.created_at).timestamp())


@router.get("/v1/models")
async def list_models(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """Every model in the hub the caller may see, in OpenAI's list shape."""
    visible = [m for m in services.store.list() if await services.access.visible(principal, m.id)]
    return {"object": "list", "data": [_model_card(m) for m in visible]}


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """One model; the id may arrive with its '/' percent-encoded."""
    model = ModelId.parse(model_id)
    await services.access.check_visible(principal, model)
    return _model_card(services.store.get(model))
