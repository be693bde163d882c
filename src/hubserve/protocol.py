"""The gateway↔runner protocol: every call and its messages as typed values, and how each is encoded.

A runner is a child process serving one model on a Unix socket. Calls are POSTs of JSON bodies; answers are
JSON, raw little-endian float32 arrays (embeddings: a fifth of the bytes of JSON numbers, and no text to
write or parse), or, for generation, NDJSON: one header line, then one line per token event. An error is
a JSON body with its ``error_type``, rebuilt on the gateway side as the same class of the error tree.
A generation is cancelled by closing its stream: the runner sees the connection go and frees the sequence.

Both sides import this module and nothing of each other.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from hubserve import errors
from hubserve.types.generation import Constraint, SamplingParams, TokenEvent, TopLogprob

Array = npt.NDArray[np.float32]

LOAD = "/load"
ENCODE = "/encode"
GENERATE = "/generate"
INFO = "/info"
CANCEL = "/cancel"
STREAM = "/stream"  # a pipeline call answered in pieces (NDJSON), as text-to-speech speaks sentences
HEALTH = "/health"

# The exit code of a runner that ran out of memory: its state can no longer be trusted, so it ends itself
# and the scheduler restarts it, as after any crash.
OUT_OF_MEMORY_EXIT = 86

JSON_MEDIA_TYPE = "application/json"
ARRAY_MEDIA_TYPE = "application/x-hubserve-f32"
STREAM_MEDIA_TYPE = "application/x-ndjson"
SHAPE_HEADER = "x-shape"


@dataclass(frozen=True)
class RunnerConfig:
    """What a runner process needs to know, handed down by the gateway when it starts the process.

    The runner reads no settings of its own: this value, passed on its command line, is all of them.
    """

    hub_dir: Path
    threads: int = 2
    encoder_split: str = "rows"
    runtime: str = "auto"
    gen_slots: int = 8
    gen_context_tokens: int = 2048
    gguf_engine: str = "auto"
    max_audio_s: float = 600.0
    max_image_pixels: int = 1024 * 1024
    max_image_steps: int = 100
    log_level: str = "info"

    def to_json(self) -> str:
        """The config as one JSON object."""
        return json.dumps({**dataclasses.asdict(self), "hub_dir": str(self.hub_dir)})

    @classmethod
    def from_json(cls, text: str) -> RunnerConfig:
        """The inverse of to_json."""
        data = json.loads(text)
        return cls(**{**data, "hub_dir": Path(data["hub_dir"])})


# ---- calls ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerOptions:
    """What one runner gets beyond the server's settings: an endpoint's env and its instance's cores."""

    env: Mapping[str, str] = field(default_factory=dict)  # set in its process before it imports anything
    threads: int | None = None  # compute threads for its model, in place of RunnerConfig.threads


@dataclass(frozen=True)
class LoadCall:
    """Load one model into an idle runner (with ``threads`` in place of the process's own, if given)."""

    model_id: str
    threads: int | None = None


@dataclass(frozen=True)
class GenerationInfo:
    """What the gateway needs of a generation model: its template, special tokens and context length."""

    template: str | None
    special_tokens: dict[str, str]
    context_length: int
    backend: str = ""


@dataclass(frozen=True)
class LoadReply:
    """A loaded model: seconds it took (one-time work such as an ONNX export apart), and what it serves."""

    load_s: float
    one_time_s: float = 0.0
    rss_bytes: int = 0
    generation: GenerationInfo | None = None


@dataclass(frozen=True)
class EncodeCall:
    """One encoder task, prepared and validated by the gateway; the runner trusts it as it is.

    ``inputs`` are the task's normalised inputs (a list of texts for the batchable tasks), ``params``
    its parameters as plain data, ``single`` whether the client sent one input rather than a list.
    """

    task: str
    inputs: Any
    params: dict[str, Any] = field(default_factory=dict)
    single: bool = False
    call_id: str = ""  # a pipeline call's name, so a client gone away can have it stopped (CANCEL)


@dataclass(frozen=True)
class GenerateCall:
    """One generation: the runner renders a chat, tokenizes, checks the prompt's room, and generates.

    ``prompt`` is text to continue, used as it is, unless ``messages`` is set: then the runner renders
    those (and ``tools``) with the model's chat template. ``add_special``: add the tokenizer's special
    tokens to a prompt (a rendered chat decides this itself). ``prefill``: send the prompt's tokens back
    in the header.
    """

    prompt: str
    params: SamplingParams
    add_special: bool = True
    prefill: bool = False
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class GenerateHeader:
    """The first line of a generation stream: the prompt's length, and its tokens when asked for."""

    prompt_tokens: int
    prefill: tuple[tuple[int, str], ...] = ()


class Generation:
    """A generation under way: its header, then its token events; closing it cancels the sequence."""

    def __init__(
        self, header: GenerateHeader, events: AsyncIterator[TokenEvent], close: Callable[[], Awaitable[None]]
    ) -> None:
        self.header = header
        self._events = events
        self._close = close

    def __aiter__(self) -> AsyncIterator[TokenEvent]:
        return self._events

    async def aclose(self) -> None:
        """Stop reading; the runner frees the sequence if it was still generating."""
        await self._close()


# ---- encoding ------------------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """A call or reply as JSON bytes; dataclasses go as objects, integer keys (``logit_bias``) as strings."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of the runner protocol")


def load_reply(data: dict[str, Any]) -> LoadReply:
    """A LoadReply from its JSON form."""
    gen = data.get("generation")
    return LoadReply(
        load_s=float(data.get("load_s", 0.0)),
        one_time_s=float(data.get("one_time_s", 0.0)),
        rss_bytes=int(data.get("rss_bytes", 0)),
        generation=GenerationInfo(**gen) if gen else None,
    )


def encode_call(data: dict[str, Any]) -> EncodeCall:
    """An EncodeCall from its JSON form."""
    return EncodeCall(
        task=str(data["task"]),
        inputs=data["inputs"],
        params=dict(data.get("params") or {}),
        single=bool(data.get("single", False)),
        call_id=str(data.get("call_id") or ""),
    )


def generate_call(data: dict[str, Any]) -> GenerateCall:
    """A GenerateCall from its JSON form."""
    return GenerateCall(
        prompt=str(data["prompt"]),
        params=params_from_data(data["params"]),
        add_special=bool(data.get("add_special", True)),
        prefill=bool(data.get("prefill", False)),
        messages=data.get("messages"),
        tools=data.get("tools"),
    )


def params_from_data(data: dict[str, Any]) -> SamplingParams:
    """SamplingParams from the JSON that ``dumps`` made of them."""
    values = dict(data)
    values["stop"] = tuple(values.get("stop") or ())
    values["logit_bias"] = {int(k): float(v) for k, v in (values.get("logit_bias") or {}).items()}
    constraint = values.get("constraint")
    values["constraint"] = Constraint(**constraint) if constraint else None
    return SamplingParams(**values)


def array_to_wire(array: npt.NDArray[Any]) -> tuple[bytes, dict[str, str]]:
    """A float array as little-endian float32 bytes, and the header that carries its shape."""
    data = np.ascontiguousarray(array, dtype="<f4")
    return data.tobytes(), {SHAPE_HEADER: ",".join(str(n) for n in data.shape)}


def array_from_wire(content: bytes, shape: str) -> Array:
    """The inverse of array_to_wire: a read-only float32 array over ``content``."""
    dims = tuple(int(n) for n in shape.split(",")) if shape else ()
    return np.frombuffer(content, dtype="<f4").reshape(dims)


def header_line(header: GenerateHeader) -> bytes:
    """The stream's first NDJSON line."""
    return dumps({"header": header}) + b"\n"


def event_line(event: TokenEvent) -> bytes:
    """One NDJSON line for a token event."""
    return dumps(event) + b"\n"


def error_line(exc: errors.HubserveError) -> bytes:
    """One NDJSON line for an error in mid-stream."""
    return dumps(error_to_data(exc)) + b"\n"


def stream_item(line: bytes) -> GenerateHeader | TokenEvent | None:
    """What one stream line holds (None for a blank line); an error line raises that error."""
    if not line.strip():
        return None
    data = orjson.loads(line)
    if "error_type" in data:
        raise error_from_data(data)
    if "header" in data:
        head = data["header"]
        return GenerateHeader(int(head["prompt_tokens"]), tuple((int(i), str(t)) for i, t in head["prefill"]))
    data["top"] = tuple(TopLogprob(**t) for t in data.get("top") or ())
    return TokenEvent(**data)


def error_to_data(exc: errors.HubserveError) -> dict[str, Any]:
    """An error as the runner sends it."""
    data: dict[str, Any] = {"error": exc.message, "error_type": exc.error_type, "param": exc.param}
    if isinstance(exc, errors.Overloaded):
        data["retry_after_s"] = exc.retry_after_s
    return data


def error_from_data(data: dict[str, Any]) -> errors.HubserveError:
    """Rebuild the runner's error as the same class of the error tree."""
    cls = errors.by_type(str(data.get("error_type", "internal")))
    message = str(data.get("error", "runner error"))
    if cls is errors.Overloaded:
        return errors.Overloaded(message, retry_after_s=float(data.get("retry_after_s") or 1.0))
    return cls(message, param=data.get("param"))
