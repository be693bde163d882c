"""OpenAI's ``POST /v1/images/generations`` on a text-to-image model, and ``GET /files/{name}`` for URLs.

Shapes from openai 3.57 (``types/image_generate_params.py``, ``types/images_response.py``): the body
names ``model``, ``prompt``, ``n``, ``size`` (``WxH`` or ``auto``), ``response_format`` (``url`` or
``b64_json``), ``output_format``; the answer is ``{"created", "data": [{"b64_json"} | {"url"}], "size",
"output_format"}``. Each of the ``n`` images gets its own seed, so they differ.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any, Literal

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hubserve.accounts.principal import Principal
from hubserve.errors import NotFound, ValidationFailed
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.disconnect import unless_disconnected
from hubserve.gateway.encoding import call_context, run_encoder
from hubserve.gateway.generation import bound_model
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.state import Services
from hubserve.tasks.base import Envelope, parse_model
from hubserve.tasks.registry import TASKS
from hubserve.tasks.text_to_image import MAX_SEED, TextToImage

SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
MAX_IMAGES = 4


class ImagesRequest(BaseModel):
    """OpenAI's body; the fields a diffusion model has no use for (quality, style, moderation) are refused."""

    model_config = ConfigDict(extra="forbid")
    model: str
    prompt: str = Field(min_length=1, max_length=4000)
    n: int = Field(default=1, ge=1, le=MAX_IMAGES)
    size: str = "auto"
    response_format: Literal["url", "b64_json"] = "url"
    output_format: Literal["png", "jpeg", "webp"] = "png"
    user: str | None = None
    # hubserve's own, HF's names: a diffusion model's knobs
    negative_prompt: str | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    scheduler: str | None = None


async def generations(request: Request, services: Services, principal: Principal) -> Response:
    """Draw ``n`` images; each is a URL under ``/files`` (for ``HUBSERVE_FILE_TTL_S``) or base64."""
    body = parse_model(ImagesRequest, await read_object(request), where="")
    assert isinstance(body, ImagesRequest)
    parameters: dict[str, Any] = {
        "format": body.output_format,
        **body.model_dump(
            include={"negative_prompt", "num_inference_steps", "guidance_scale", "scheduler"},
            exclude_none=True,
        ),
    }
    if body.size != "auto":
        match = SIZE.fullmatch(body.size)
        if match is None:
            raise ValidationFailed(f"size must be WIDTHxHEIGHT or auto, got {body.size!r}", param="size")
        parameters.update(width=int(match.group(1)), height=int(match.group(2)))
    meter = meter_of(request)
    name = bound_model(request, services, body.model, None)
    task = TASKS[TextToImage.name]
    admission = await services.access.admit(meter, principal, name, task=task.name, route="openai")
    admission.require(task.name, param="model")
    ctx = call_context(request, services)
    options = serve_options(request, services.settings)
    data: list[dict[str, str]] = []
    size = ""
    for i in range(body.n):
        seed = body.seed + i if body.seed is not None else secrets.randbelow(MAX_SEED)
        prepared = task.prepare(Envelope(inputs=body.prompt, parameters={**parameters, "seed": seed}), ctx)
        call = task.to_call(prepared)
        result = await unless_disconnected(request, run_encoder(services, admission, meter, call, options))
        size = f"{result['width']}x{result['height']}"
        if body.response_format == "b64_json":
            data.append({"b64_json": result["image"]})
        else:
            file = services.files.put(base64.b64decode(result["image"]), result["content_type"])
            data.append({"url": f"{_base_url(request)}/files/{file}"})
    meter.count(0, body.n, "images")
    answer = {"created": int(time.time()), "data": data, "size": size, "output_format": body.output_format}
    return Response(orjson.dumps(answer), media_type="application/json")


def fetch_file(services: Services, name: str) -> Response:
    """A generated file while it lives; 404 once it expired (or never was)."""
    stored = services.files.get(name)
    if stored is None:
        raise NotFound("No such file: it expired or never existed (generated files live HUBSERVE_FILE_TTL_S)")
    return Response(
        stored.data, media_type=stored.content_type, headers={"Cache-Control": "private, max-age=60"}
    )


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
