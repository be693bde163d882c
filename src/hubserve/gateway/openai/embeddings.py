"""``POST /v1/embeddings``: OpenAI's embeddings over the feature-extraction task, floats or base64.

openai-python asks for ``"encoding_format": "base64"`` when the caller names none, and decodes the string
as little-endian float32 (openai 3.57, ``lib/_parsing/_embeddings.py``: ``prepare_embedding_request``);
base64 is also far smaller than JSON numbers.
Token-id inputs are the model's own ids, used as they are (``/tokenize`` gives them, special tokens
included). ``truncate`` and ``truncation_direction`` are TEI's extras: without them an input longer than
the model takes is a 413 ``input_too_long``.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hubserve.accounts.principal import Principal, Scope
from hubserve.gateway.callers import authorize
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.encoding import call_context, run_encoder
from hubserve.gateway.generation import bound_model
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.state import Services, get_services
from hubserve.protocol import EncodeCall
from hubserve.tasks.base import Envelope, parse_model
from hubserve.tasks.feature_extraction import FeatureExtraction
from hubserve.tasks.registry import TASKS


class EmbeddingsRequest(BaseModel):
    """OpenAI's body, plus TEI's truncation fields and the model's prompt names."""

    model_config = ConfigDict(extra="forbid")
    model: str
    input: Any = Field(
        description="A string, a list of strings, a list of token ids, or a list of such lists"
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, gt=0)
    user: str | None = None
    truncate: bool = False
    truncation_direction: Literal["left", "right"] = "right"
    prompt_name: str | None = None


async def serve_embeddings(request: Request) -> Response:
    """The route's endpoint; the gateway's front serves it ahead of FastAPI's stack (``gateway.lane``)."""
    principal = await authorize(request, Scope.INFERENCE)
    return await embeddings(request, get_services(request), principal)


async def embeddings(request: Request, services: Services, principal: Principal) -> Response:
    """Embed ``input`` with the model the body names; ``usage`` counts the tokens the model saw."""
    body = parse_model(EmbeddingsRequest, await read_object(request), where="")
    assert isinstance(body, EmbeddingsRequest)
    meter = meter_of(request)
    model = bound_model(request, services, body.model, None)
    admission = await services.access.admit(
        meter, principal, model, task=FeatureExtraction.name, route="openai"
    )
    admission.require(FeatureExtraction.name, param="model")
    task = TASKS[FeatureExtraction.name]
    params = {
        "truncate": body.truncate,
        "truncation_direction": body.truncation_direction,
        "dimensions": body.dimensions,
        "prompt_name": body.prompt_name,
        "with_token_counts": True,
    }
    prepared = task.prepare(Envelope(inputs=body.input, parameters=params), call_context(request, services))
    call: EncodeCall = task.to_call(prepared)
    rows = await run_encoder(services, admission, meter, call, serve_options(request, services.settings))
    vectors, tokens = rows[:, :-1], int(rows[:, -1].sum())
    meter.count(tokens, len(vectors), "tokens")
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ],
        "model": admission.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(
        orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), 200, media_type="application/json"
    )


def _encoded(vector: Any, encoding_format: str) -> Any:
    row = np.ascontiguousarray(vector, dtype="<f4")
    return base64.b64encode(row.tobytes()).decode() if encoding_format == "base64" else row
