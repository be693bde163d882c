"""Tasks that run on a whole-model pipeline (speech, text-to-text) rather than an encoder's forward."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from abc import abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from hubserve.errors import HubserveError, InvalidAudio, TaskNotSupported
from hubserve.protocol import EncodeCall
from hubserve.runtimes.base import LoadedEncoder
from hubserve.tasks.base import CallContext, ParamsT, Prepared, Task


@dataclass(frozen=True)
class Loaded:
    """A loaded pipeline, with the runner's limits on what one call may ask of it."""

    model: Any
    max_audio_s: float = 600.0
    max_image_pixels: int = 1024 * 1024
    max_image_steps: int = 100
    on_step: Callable[[int, int], bool] = field(default=lambda done, total: True)  # progress; False stops


class PipelineTask(Task[ParamsT]):
    """A task whose runner holds a pipeline (``runtimes.pipelines``): one call at a time, in a thread."""

    head = "base"  # unused: a pipeline loads whole

    def run(self, model: LoadedEncoder, request: Prepared[ParamsT]) -> Any:
        """Pipeline tasks never run on an encoder."""
        raise TaskNotSupported(f"{self.name} runs on a pipeline, not an encoder")

    def to_call(self, request: Prepared[ParamsT]) -> EncodeCall:
        """The call, named so that it can be stopped in the runner when its client goes away."""
        return dataclasses.replace(super().to_call(request), call_id=uuid.uuid4().hex)

    def from_call(self, call: EncodeCall) -> Prepared[ParamsT]:
        """Parameters validated again, so nested ones are models (one call, not a merged batch: cheap)."""
        params: ParamsT = self.params_model.model_validate(call.params)  # type: ignore[assignment]
        return Prepared(inputs=call.inputs, params=params, single=call.single)

    def stream(self, loaded: Loaded, request: Prepared[ParamsT]) -> Generator[dict[str, Any], None, None]:
        """The answer in pieces as it is made (text-to-speech's sentences); most tasks have one piece."""
        raise TaskNotSupported(f"{self.name} answers whole, not as a stream")

    @abstractmethod
    def compute(self, loaded: Loaded, request: Prepared[ParamsT]) -> Any:
        """Compute the answer from the pipeline (runs in a worker thread)."""


class FileTask(PipelineTask[ParamsT]):
    """A task whose input is one file in base64 (``file_bytes`` reads it): checked before any queue."""

    @staticmethod
    @abstractmethod
    def file_bytes(inputs: Any) -> bytes:
        """The file's bytes; a clear 4xx if ``inputs`` is not one."""

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """The base64 text decodes to a file that is not empty; the call carries it as it came."""
        self.file_bytes(inputs)
        return inputs, True


def decode_base64_file(inputs: Any, kind: str, error: type[HubserveError]) -> bytes:
    """A file's bytes from ``inputs``: base64 text, as huggingface_hub sends a file with parameters.

    ``kind`` names the file in the messages (``audio``, ``image``); ``error`` is the 4xx for a bad one.
    """
    if not isinstance(inputs, str):
        raise error(f"`inputs` must be the {kind} file in base64 (or send the file's bytes as the body)")
    try:
        data = base64.b64decode(inputs, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"`inputs` is not valid base64 {kind}") from None
    if not data:
        raise error(f"The {kind} is empty")
    return data


def decode_base64_audio(inputs: Any) -> bytes:
    """The audio file's bytes of ``inputs`` (InvalidAudio if there is none)."""
    return decode_base64_file(inputs, "audio", InvalidAudio)
