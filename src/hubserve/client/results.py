"""The SDK's typed results: dataclasses with huggingface_hub's names and fields, read from JSON answers.

Each one also reads like the dict it came from (``result["label"]``, ``dict(result)``), as
huggingface_hub's own output types do, so code written against either keeps working. Fields the server
adds that a class does not name are dropped; fields it leaves out get their defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Result:
    """A dataclass that also answers ``[key]``, ``keys()`` and ``dict(...)``."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        """The field names."""
        return [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or ``default`` for a name it lacks."""
        return getattr(self, key) if key in self.keys() else default

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


def read(cls: type[T], value: Any) -> T:
    """``value`` (parsed JSON) as ``cls``: nested dataclasses, lists of them and optional fields."""
    return typing.cast(T, _read(cls, value))


def _read(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _read(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_read(item, v) for v in value]
    if dataclasses.is_dataclass(kind) and isinstance(kind, type) and isinstance(value, dict):
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: _read(hints[k], v) for k, v in value.items() if k in known})
    if kind is float and isinstance(value, int | float):
        return float(value)
    return value


# ---- generation ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class TextGenerationOutputToken(Result):
    """One token: its id, text and log-probability."""

    id: int
    text: str
    logprob: float | None = None
    special: bool = False


@dataclasses.dataclass
class TextGenerationOutputDetails(Result):
    """Why generation stopped, and the tokens (with ``details=True``)."""

    finish_reason: str
    generated_tokens: int
    seed: int | None = None
    prefill: list[TextGenerationOutputToken] = dataclasses.field(default_factory=list)
    tokens: list[TextGenerationOutputToken] = dataclasses.field(default_factory=list)
    top_tokens: list[list[TextGenerationOutputToken]] | None = None
    best_of_sequences: list[Any] | None = None


@dataclasses.dataclass
class TextGenerationOutput(Result):
    """``text_generation(..., details=True)``."""

    generated_text: str
    details: TextGenerationOutputDetails | None = None


@dataclasses.dataclass
class TextGenerationStreamOutputStreamDetails(Result):
    """The last stream event's details."""

    finish_reason: str
    generated_tokens: int
    input_length: int | None = None
    seed: int | None = None


@dataclasses.dataclass
class TextGenerationStreamOutput(Result):
    """One event of ``text_generation(..., stream=True, details=True)``; the last has the whole text."""

    token: TextGenerationOutputToken
    index: int | None = None
    generated_text: str | None = None
    details: TextGenerationStreamOutputStreamDetails | None = None
    top_tokens: list[TextGenerationOutputToken] | None = None


@dataclasses.dataclass
class ChatCompletionOutputFunctionDefinition(Result):
    """A tool call's function: its name and JSON arguments."""

    name: str | None = None
    arguments: Any = None


@dataclasses.dataclass
class ChatCompletionOutputToolCall(Result):
    """A tool the model calls."""

    id: str | None = None
    type: str = "function"
    function: ChatCompletionOutputFunctionDefinition | None = None
    index: int | None = None


@dataclasses.dataclass
class ChatCompletionOutputMessage(Result):
    """A chat message the model wrote (or a stream's delta of one)."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[ChatCompletionOutputToolCall] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None


@dataclasses.dataclass
class ChatCompletionOutputComplete(Result):
    """One completion of a chat."""

    index: int
    message: ChatCompletionOutputMessage
    finish_reason: str | None = None
    logprobs: Any = None


@dataclasses.dataclass
class ChatCompletionOutputUsage(Result):
    """Tokens read and written."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclasses.dataclass
class ChatCompletionOutput(Result):
    """``chat_completion`` and ``chat.completions.create``."""

    id: str
    created: int
    model: str
    choices: list[ChatCompletionOutputComplete]
    usage: ChatCompletionOutputUsage | None = None
    system_fingerprint: str | None = None
    object: str = "chat.completion"


@dataclasses.dataclass
class ChatCompletionStreamOutputDelta(ChatCompletionOutputMessage):
    """What a stream chunk adds to a choice's message."""


@dataclasses.dataclass
class ChatCompletionStreamOutputChoice(Result):
    """One choice's delta in a stream chunk."""

    index: int
    delta: ChatCompletionStreamOutputDelta
    finish_reason: str | None = None
    logprobs: Any = None


@dataclasses.dataclass
class ChatCompletionStreamOutput(Result):
    """One chunk of a streamed chat."""

    id: str
    created: int
    model: str
    choices: list[ChatCompletionStreamOutputChoice]
    usage: ChatCompletionOutputUsage | None = None
    system_fingerprint: str | None = None
    object: str = "chat.completion.chunk"


# ---- encoders and pipelines ----------------------------------------------------------------------------


@dataclasses.dataclass
class ClassificationOutputElement(Result):
    """A label and its score."""

    label: str
    score: float


@dataclasses.dataclass
class TextClassificationOutputElement(ClassificationOutputElement):
    """``text_classification``: a label and its score."""


@dataclasses.dataclass
class ZeroShotClassificationOutputElement(ClassificationOutputElement):
    """``zero_shot_classification``: a candidate label and its score."""


@dataclasses.dataclass
class ImageClassificationOutputElement(ClassificationOutputElement):
    """``image_classification``: a label and its score."""


@dataclasses.dataclass
class AudioClassificationOutputElement(ClassificationOutputElement):
    """``audio_classification``: a label and its score."""


@dataclasses.dataclass
class TokenClassificationOutputElement(Result):
    """One entity found in the text."""

    score: float
    word: str
    start: int | None = None
    end: int | None = None
    entity_group: str | None = None
    entity: str | None = None


@dataclasses.dataclass
class FillMaskOutputElement(Result):
    """One candidate for the mask."""

    score: float
    token: int
    token_str: str
    sequence: str


@dataclasses.dataclass
class QuestionAnsweringOutputElement(Result):
    """The answer's span in the context."""

    answer: str
    score: float
    start: int
    end: int


@dataclasses.dataclass
class RerankResult(Result):
    """A text's place in a ranking: its index in the texts sent, and its relevance."""

    index: int
    score: float
    text: str | None = None


@dataclasses.dataclass
class SummarizationOutput(Result):
    """``summarization``."""

    summary_text: str


@dataclasses.dataclass
class TranslationOutput(Result):
    """``translation``."""

    translation_text: str


@dataclasses.dataclass
class AutomaticSpeechRecognitionOutputChunk(Result):
    """A stretch of the transcript with its start and end in seconds."""

    text: str
    timestamp: list[float]


@dataclasses.dataclass
class AutomaticSpeechRecognitionOutput(Result):
    """``automatic_speech_recognition``."""

    text: str
    chunks: list[AutomaticSpeechRecognitionOutputChunk] | None = None


@dataclasses.dataclass
class ImageToTextOutput(Result):
    """``image_to_text``."""

    generated_text: str


@dataclasses.dataclass
class ObjectDetectionBoundingBox(Result):
    """A box, in pixels."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclasses.dataclass
class ObjectDetectionOutputElement(Result):
    """One object found in the image."""

    box: ObjectDetectionBoundingBox
    label: str
    score: float


# ---- the server ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class ModelStatus(Result):
    """Whether a model is loaded (``get_model_status``), in the old Inference API's shape."""

    loaded: bool
    state: str  # "Loaded", "Loading" or "Loadable"
    compute_type: str
    framework: str


@dataclasses.dataclass
class ModelInfo(Result):
    """A model of the server's hub, as ``/api/models`` lists it."""

    id: str
    pipeline_tag: str | None = None
    library_name: str | None = None
    private: bool = False
    tags: list[str] = dataclasses.field(default_factory=list)
    author: str | None = None
    createdAt: str | None = None  # the Hub's name
    sha: str | None = None


@dataclasses.dataclass
class RunnerStatus(Result):
    """One process serving a model."""

    pid: int | None
    active: int
    served: int
    load_s: float


@dataclasses.dataclass
class LoadedModel(Result):
    """A resident or starting model, as ``/api/ps`` shows it."""

    model: str
    state: str
    active: int
    queued: int
    memory_bytes: int
    replicas: int
    runners: list[RunnerStatus] = dataclasses.field(default_factory=list)
    pinned: bool = False
    idle_s: float = 0.0
    keep_alive_s: float | None = None
    load_s: float | None = None
    estimated_time: float | None = None
    endpoint: str | None = None
    restarts: int = 0
    error: str | None = None


@dataclasses.dataclass
class ProcessStatus(Result):
    """``ps``: what the server has loaded and how much memory it holds."""

    models: list[LoadedModel]
    memory_budget_bytes: int | None = None
    memory_used_bytes: int = 0
    startup_s: float | None = None
