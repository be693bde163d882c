"""What crosses the socket between gateway and runner: calls, token events, arrays, errors by error_type."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from hubserve import errors
from hubserve.runtimes.generation.base import Constraint, SamplingParams, TokenEvent, TopLogprob


class LoadCall(BaseModel):
    """Load one model into an idle runner."""

    model_config = ConfigDict(extra="forbid")
    model_id: str


class EncodeCall(BaseModel):
    """Run one encoder task; the gateway validated it already."""

    model_config = ConfigDict(extra="forbid")
    task: str
    envelope: dict[str, Any]
    hf_hub_version: list[int] | None = None
    max_batch_inputs: int = 256


class TokenizeCall(BaseModel):
    """Tokenize text with the model's tokenizer."""

    model_config = ConfigDict(extra="forbid")
    text: str
    add_special: bool


class GenerateCall(BaseModel):
    """Generate from token ids with sampling parameters."""

    model_config = ConfigDict(extra="forbid")
    prompt: list[int]
    params: dict[str, Any]


ARRAY_MEDIA_TYPE = "application/x-hubserve-f32"
SHAPE_HEADER = "x-shape"


def array_to_wire(array: np.ndarray[Any, Any]) -> tuple[bytes, dict[str, str]]:
    """A float array as little-endian float32 bytes and the header that carries its shape.

    Embeddings travel this way rather than as JSON numbers: a fifth of the bytes, and no text to write
    in the runner or to parse in the gateway.
    """
    data = np.ascontiguousarray(array, dtype="<f4")
    return data.tobytes(), {SHAPE_HEADER: ",".join(str(n) for n in data.shape)}


def array_from_wire(content: bytes, shape: str) -> np.ndarray[Any, Any]:
    """The inverse of array_to_wire; a read-only float32 array over ``content``."""
    dims = tuple(int(n) for n in shape.split(",")) if shape else ()
    return np.frombuffer(content, dtype="<f4").reshape(dims)


def params_to_wire(params: SamplingParams) -> dict[str, Any]:
    """SamplingParams as JSON-safe data."""
    data = dataclasses.asdict(params)
    data["stop"] = list(params.stop)
    data["logit_bias"] = {str(k): v for k, v in params.logit_bias.items()}
    data["constraint"] = dataclasses.asdict(params.constraint) if params.constraint else None
    return data


def params_from_wire(data: dict[str, Any]) -> SamplingParams:
    """The inverse of params_to_wire."""
    values = dict(data)
    values["stop"] = tuple(values.get("stop") or ())
    values["logit_bias"] = {int(k): float(v) for k, v in (values.get("logit_bias") or {}).items()}
    constraint = values.get("constraint")
    values["constraint"] = Constraint(**constraint) if constraint else None
    return SamplingParams(**values)


def event_to_line(event: TokenEvent) -> bytes:
    """One NDJSON line for a token event."""
    data = dataclasses.asdict(event)
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


def event_from_data(data: dict[str, Any]) -> TokenEvent:
    """A token event from its JSON form."""
    values = dict(data)
    values["top"] = tuple(TopLogprob(**t) for t in values.get("top") or ())
    return TokenEvent(**values)


def error_to_data(exc: errors.HubserveError) -> dict[str, Any]:
    """An error as the runner sends it."""
    data: dict[str, Any] = {"error": exc.message, "error_type": exc.error_type, "param": exc.param}
    if isinstance(exc, errors.Overloaded):
        data["retry_after_s"] = exc.retry_after_s
    return data


def error_from_data(data: dict[str, Any]) -> errors.HubserveError:
    """Rebuild the same error class on the gateway side."""
    cls = errors.by_type(str(data.get("error_type", "internal")))
    message = str(data.get("error", "runner error"))
    if cls is errors.Overloaded:
        return errors.Overloaded(message, retry_after_s=float(data.get("retry_after_s") or 1.0))
    return cls(message, param=data.get("param"))
