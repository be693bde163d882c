"""The task contract, the HF request envelope, and input checks shared by every task."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from hubserve.errors import InputTooLong, ValidationFailed
from hubserve.protocol import EncodeCall
from hubserve.runtimes.base import Array, Head, LoadedEncoder
from hubserve.types.manifest import Manifest

ParamsT = TypeVar("ParamsT", bound=BaseModel)


class Options(BaseModel):
    """Legacy ``options`` of the api-inference era; accepted for compatibility."""

    model_config = ConfigDict(extra="forbid")
    use_cache: bool = True
    wait_for_model: bool = False
    keep_alive: float | None = None  # seconds the model stays loaded after this request; <0 forever


class Envelope(BaseModel):
    """The HF request body ``{"inputs", "parameters", "options"}``, plus root keys for feature-extraction."""

    model_config = ConfigDict(extra="allow")
    inputs: Any
    parameters: dict[str, Any] | None = None
    options: Options | None = None


class StrictParams(BaseModel):
    """Base of every task's parameters: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class CallContext:
    """Facts about the caller that shape the answer (not the computation)."""

    hf_hub_version: tuple[int, ...] | None = None
    max_batch_inputs: int = 256
    max_speech_characters: int = 4096
    max_image_pixels: int = 1024 * 1024
    max_image_steps: int = 100


@dataclass
class Prepared(Generic[ParamsT]):
    """A validated request: its inputs, its parameters, and whether one input or a list was sent."""

    inputs: Any
    params: ParamsT
    single: bool


class Task(ABC, Generic[ParamsT]):
    """One task: validate a request, then run it on a loaded encoder."""

    name: ClassVar[str]
    head: ClassVar[Head]
    params_model: ClassVar[type[BaseModel]]
    root_params: ClassVar[bool] = False
    # Set by tasks whose normalised inputs are a model (question answering's question and context).
    inputs_model: ClassVar[type[BaseModel] | None] = None

    def head_for(self, manifest: Manifest) -> Head:
        """Which model head this task needs on this model."""
        return self.head

    def prepare(self, envelope: Envelope, ctx: CallContext) -> Prepared[ParamsT]:
        """Validate inputs and parameters before anything is queued."""
        raw = dict(envelope.parameters or {})
        extras = dict(envelope.model_extra or {})
        extras.pop("stream", None)
        if extras and not self.root_params:
            raise ValidationFailed(
                f"Unknown top-level field(s) {sorted(extras)}; put task parameters under 'parameters'"
            )
        raw.update(extras)
        params: ParamsT = parse_model(self.params_model, raw, where="parameters")  # type: ignore[assignment]
        inputs, single = self.check_inputs(envelope.inputs, ctx)
        return Prepared(inputs=inputs, params=params, single=single)

    def to_call(self, request: Prepared[ParamsT]) -> EncodeCall:
        """The prepared request as the runner receives it."""
        inputs = request.inputs.model_dump() if isinstance(request.inputs, BaseModel) else request.inputs
        params = request.params.model_dump() if isinstance(request.params, BaseModel) else {}
        return EncodeCall(self.name, inputs, params, request.single)

    def from_call(self, call: EncodeCall) -> Prepared[ParamsT]:
        """The prepared request again, from a call the gateway validated: trusted, not checked twice.

        So a batch the gateway merged from several requests is never refused for its size.
        """
        inputs = self.inputs_model.model_construct(**call.inputs) if self.inputs_model else call.inputs
        params: ParamsT = self.params_model.model_construct(**call.params)  # type: ignore[assignment]
        return Prepared(inputs=inputs, params=params, single=call.single)

    @abstractmethod
    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """Validate ``inputs``; return them normalised to a list, and whether one was sent."""

    @abstractmethod
    def run(self, model: LoadedEncoder, request: Prepared[ParamsT]) -> Any:
        """Compute the answer in its wire shape (runs in a worker thread)."""

    # Tasks that set this split ``run`` in two, so a runner can tokenize one request while the model
    # still computes the one before.
    tokenizes_ahead: ClassVar[bool] = False

    def tokenize_ahead(self, model: LoadedEncoder, request: Prepared[ParamsT]) -> Any:
        """The first half of ``run``: everything that needs the tokenizer and not the model."""
        raise NotImplementedError(f"{self.name} tokenizes inside run")

    def run_tokenized(self, model: LoadedEncoder, request: Prepared[ParamsT], tokenized: Any) -> Any:
        """The second half of ``run``, from what ``tokenize_ahead`` returned."""
        raise NotImplementedError(f"{self.name} tokenizes inside run")


def parse_model(model: type[BaseModel], data: Any, *, where: str) -> BaseModel:
    """Validate data against a pydantic model; a failure becomes a 422 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in (where, *first["loc"]) if p != "")
        raise ValidationFailed(f"Invalid {loc}: {first['msg']}", param=loc) from None


def text_list(inputs: Any, ctx: CallContext, *, field: str = "inputs") -> tuple[list[str], bool]:
    """A non-empty string, or a non-empty list of non-empty strings."""
    if isinstance(inputs, str):
        items, single = [inputs], True
    elif isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs):
        items, single = list(inputs), False
    elif isinstance(inputs, list) and not inputs:
        raise ValidationFailed(f"`{field}` must not be an empty list", param=field)
    else:
        raise ValidationFailed(f"`{field}` must be a string or a list of strings", param=field)
    check_count(len(items), ctx, field)
    if any(not x.strip() for x in items):
        raise ValidationFailed(f"`{field}` must not contain empty strings", param=field)
    return items, single


def check_count(count: int, ctx: CallContext, field: str = "inputs") -> None:
    """A request of more inputs than the server takes at once is a 422."""
    if count > ctx.max_batch_inputs:
        raise ValidationFailed(
            f"`{field}` has {count} items; at most {ctx.max_batch_inputs} per request", param=field
        )


def tokenize(
    model: LoadedEncoder,
    texts: Sequence[str | tuple[str, str]],
    *,
    truncate: bool,
    pairs: list[str] | None = None,
    **extra: Any,
) -> Any:
    """A padded batch of texts, or of pairs (tuples, or ``pairs``); too long is an error unless truncated."""
    encoding = model.tokenizer(
        texts,
        pairs,
        padding=True,
        truncation="longest_first" if truncate else False,
        max_length=model.max_length if truncate else None,
        return_tensors="np",
        **extra,
    )
    check_length(model, int(encoding["input_ids"].shape[1]))
    return encoding


@contextmanager
def truncating_from(model: LoadedEncoder, direction: str) -> Iterator[None]:
    """Meanwhile the model's tokenizer cuts over-long inputs from ``direction`` (left/right, any case)."""
    tokenizer = model.tokenizer
    side = tokenizer.truncation_side
    tokenizer.truncation_side = direction.lower()
    try:
        yield
    finally:
        tokenizer.truncation_side = side


def check_length(model: LoadedEncoder, length: int) -> None:
    """An input of ``length`` tokens that the model cannot take is a 413, not a runtime error."""
    if length > model.max_length:
        raise InputTooLong(
            f"Input has {length} tokens; this model takes at most {model.max_length}. "
            "Shorten it, or pass truncate=true where the task allows it.",
            param="inputs",
        )


def softmax(x: Array, axis: int = -1) -> Array:
    """Numerically stable softmax."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    out: Array = e / np.sum(e, axis=axis, keepdims=True)
    return out


def sigmoid(x: Array) -> Array:
    """Logistic function."""
    out: Array = 1.0 / (1.0 + np.exp(-x))
    return out


def id2label(config: dict[str, Any]) -> dict[int, str]:
    """The model's label names by class index (``LABEL_i`` where the config has none)."""
    raw = config.get("id2label") or {}
    labels = {int(k): str(v) for k, v in raw.items()}
    return labels
