"""OpenAI routes, plus the per-model chat URL huggingface_hub builds for ``model=http://host/models/ORG/NAME``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.convertors import PathConvertor, register_url_convertor

from hubserve.accounts.principal import Principal
from hubserve.gateway.callers import Inferrer, Reader
from hubserve.gateway.catalog import Catalog
from hubserve.gateway.cold_start import ServeOptions, serve_options
from hubserve.gateway.errors import Dialect
from hubserve.gateway.generation import Generator, bound_model, serve_generation
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.openai.audio import TRANSCRIPTION_BODY, SpeechRequest, speech, transcriptions
from hubserve.gateway.openai.embeddings import EmbeddingsRequest, serve_embeddings
from hubserve.gateway.openai.images import ImagesRequest, fetch_file, generations
from hubserve.gateway.openai.protocol import BoundChatRequest, ChatRequest, CompletionRequest
from hubserve.gateway.openai.service import chat, completions
from hubserve.gateway.openapi import AUTHENTICATED, INFERENCE, MODEL, errors, json_body, streaming
from hubserve.gateway.state import Services, services_dependency
from hubserve.tasks.base import parse_model
from hubserve.tasks.text_to_speech import TextToSpeech, voice_names
from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId

router = APIRouter(tags=[Dialect.OPENAI])  # the tag makes errors on these routes OpenAI-shaped


class AnyPathConvertor(PathConvertor):
    """Starlette's ``path``, newlines included: a model id with one is an invalid id, not an unknown route.

    (An unmatched request would get HF's error body, not OpenAI's.)
    """

    regex = "[\\s\\S]*"


register_url_convertor("anypath", AnyPathConvertor())
ServicesDep = Annotated[Services, Depends(services_dependency)]
CHAT_RESPONSES = {**streaming("A chat.completion, or its chunks as SSE"), **errors(*INFERENCE)}


async def _body(request: Request, model: type[BaseModel]) -> Any:
    return parse_model(model, await read_object(request), where="")


async def _chat(
    request: Request, services: Services, principal: Principal, url_model: str | None
) -> Response:
    body = await _body(request, ChatRequest if url_model is None else BoundChatRequest)

    async def handler(generator: Generator) -> Response:
        return await chat(generator, body)

    model = bound_model(request, services, body.model, url_model)
    admission = await services.access.admit(
        meter_of(request), principal, model, task="chat-completion", route="openai"
    )
    return await serve_generation(
        request, services, admission, _options(request, services, body.keep_alive), handler
    )


def _options(request: Request, services: Services, keep_alive: float | None) -> ServeOptions:
    return serve_options(request, services.settings, keep_alive_s=keep_alive)


@router.post(
    "/v1/chat/completions",
    responses={**CHAT_RESPONSES},
    openapi_extra=json_body(ChatRequest),
)
async def chat_completions(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Chat with the model named in the body (or the default model for "dummy"/"tgi")."""
    return await _chat(request, services, principal, None)


@router.post(
    "/models/{model:anypath}/v1/chat/completions",
    responses={**CHAT_RESPONSES},
    openapi_extra=json_body(BoundChatRequest),
)
async def model_chat_completions(
    model: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Chat with the model in the URL (huggingface_hub sends model "dummy" here)."""
    return await _chat(request, services, principal, model)


@router.post(
    "/hf-inference/models/{model:anypath}/v1/chat/completions",
    responses={**CHAT_RESPONSES},
    openapi_extra=json_body(BoundChatRequest),
)
async def router_chat_completions(
    model: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """The HF router's form of the same, which huggingface_hub builds for a Hub model id."""
    return await _chat(request, services, principal, model)


@router.post(
    "/v1/completions",
    responses={**streaming("A text_completion, or its chunks as SSE"), **errors(*INFERENCE)},
    openapi_extra=json_body(CompletionRequest),
)
async def text_completions(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Complete a prompt with the model named in the body."""
    body = await _body(request, CompletionRequest)

    async def handler(generator: Generator) -> Response:
        return await completions(generator, body)

    model = bound_model(request, services, body.model, None)
    admission = await services.access.admit(
        meter_of(request), principal, model, task="text-generation", route="openai"
    )
    return await serve_generation(
        request, services, admission, _options(request, services, body.keep_alive), handler
    )


@router.post("/v1/embeddings", responses=errors(*INFERENCE), openapi_extra=json_body(EmbeddingsRequest))
async def create_embeddings(request: Request) -> Response:
    """Embed the input with the model named in the body: floats, or base64 little-endian float32."""
    return await serve_embeddings(request)


@router.post("/v1/audio/transcriptions", responses=errors(*INFERENCE), openapi_extra=TRANSCRIPTION_BODY)
async def create_transcription(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Transcribe an uploaded audio file (multipart `file`, `model`): json, text, srt, vtt or verbose_json."""
    return await transcriptions(request, services, principal)


@router.post("/v1/audio/speech", responses=errors(*INFERENCE), openapi_extra=json_body(SpeechRequest))
async def create_speech(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Speak ``input`` with a text-to-speech model; the body is the audio file (mp3 unless asked)."""
    return await speech(request, services, principal)


@router.post("/v1/images/generations", responses=errors(*INFERENCE), openapi_extra=json_body(ImagesRequest))
async def create_images(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Draw images with a text-to-image model: URLs under /files (short-lived) or base64."""
    return await generations(request, services, principal)


@router.get("/files/{name}", responses=errors(404))
async def get_file(name: str, services: ServicesDep) -> Response:
    """A generated image by its unguessable name, until it expires (no token: the name is the key)."""
    return fetch_file(services, name)


def _model_card(name: str, manifest: Manifest, services: Services) -> dict[str, Any]:
    card: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": int(datetime.fromisoformat(manifest.created_at).timestamp()),
        "owned_by": name.split("/")[0],
    }
    if manifest.pipeline_tag == TextToSpeech.name and manifest.format == "piper":
        card["voices"] = voice_names(services.store.files_dir(ModelId.parse(manifest.id)))
    return card


@router.get("/v1/models", responses=errors(*AUTHENTICATED))
async def list_models(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """Every model and alias in the hub the caller may see, in OpenAI's list shape."""
    entries = await Catalog(services, principal).entries()
    return {"object": "list", "data": [_model_card(name, m, services) for name, m in entries]}


@router.get("/v1/models/{model_id:anypath}", responses=errors(*AUTHENTICATED, *MODEL))
async def get_model(model_id: str, principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """One model or alias; the id may arrive with its '/' percent-encoded."""
    resolved = await services.access.find(principal, model_id)
    return _model_card(resolved.name, services.store.get(resolved.model_id), services)
