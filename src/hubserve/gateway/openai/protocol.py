"""OpenAI request models (unknown fields are ignored, as OpenAI-compatible servers do)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hubserve.errors import ValidationFailed
from hubserve.types.generation import MAX_SEED, Constraint, SamplingParams


class Lenient(BaseModel):
    """Ignore fields we do not know (new client versions add them)."""

    model_config = ConfigDict(extra="ignore")


class FunctionCall(Lenient):
    """A call the assistant made earlier in the conversation."""

    name: str
    arguments: str = "{}"


class ToolCallIn(Lenient):
    """An earlier tool call, as clients send it back."""

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(Lenient):
    """One chat turn."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    def as_template_input(self) -> dict[str, Any]:
        """The message as chat templates expect it: text content, tool calls with parsed arguments."""
        out: dict[str, Any] = {
            "role": "system" if self.role == "developer" else self.role,
            "content": self.text(),
        }
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        if self.name:
            out["name"] = self.name
        return out

    def text(self) -> str:
        """The text of the message; image parts are refused."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise ValidationFailed(
                    f"Content parts of type {part.get('type')!r} are not supported", param="messages"
                )
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class Function(Lenient):
    """A tool's function definition."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Lenient):
    """``{"type": "function", "function": {...}}``."""

    type: Literal["function"] = "function"
    function: Function


class StreamOptions(Lenient):
    """``stream_options``."""

    include_usage: bool = False


class SamplingFields(Lenient):
    """Sampling fields shared by chat and completions, plus the common extras of other servers."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    frequency_penalty: float = Field(default=0.0, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    top_k: int | None = Field(default=None, ge=0)
    repetition_penalty: float | None = Field(default=None, gt=0)
    ignore_eos: bool = False
    keep_alive: float | None = None  # hubserve extra: seconds the model stays loaded after this request

    @field_validator("n")
    @classmethod
    def _single_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def sampling(
        self,
        max_tokens: int,
        logprobs: int | None,
        constraint: Constraint | None,
        extra_stops: tuple[str, ...] = (),
    ) -> SamplingParams:
        """The engine's parameters for this request."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        temperature = 1.0 if self.temperature is None else self.temperature
        return SamplingParams(
            max_new_tokens=max_tokens,
            temperature=temperature,
            top_p=self.top_p if self.top_p is not None else 1.0,
            top_k=self.top_k or 0,
            do_sample=temperature > 0,
            repetition_penalty=self.repetition_penalty or 1.0,
            frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty,
            seed=self.seed,
            stop=tuple(s for s in [*stops, *extra_stops] if s),
            logprobs=logprobs,
            logit_bias=_bias(self.logit_bias),
            constraint=constraint,
            ignore_eos=self.ignore_eos,
        )


_TOKEN_ID = re.compile(r"-?[0-9]{1,18}")  # within int64, which the runner protocol carries


def _bias(raw: dict[str, float] | None) -> dict[int, float]:
    out = {}
    for key, value in (raw or {}).items():
        if not _TOKEN_ID.fullmatch(key):
            raise ValidationFailed(f"logit_bias keys must be token ids, got {key!r}", param="logit_bias")
        out[int(key)] = max(-100.0, min(100.0, value))
    return out


class ChatFields(SamplingFields):
    """A chat request's fields but the model, which the route decides."""

    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    tool_prompt: str | None = None
    parallel_tool_calls: bool | None = None


class ChatRequest(ChatFields):
    """``POST /v1/chat/completions``: the body names the model ("dummy" or "tgi": the default model)."""

    model: str


class BoundChatRequest(ChatFields):
    """``POST /models/{id}/v1/chat/completions``: the URL names the model; the body's ``model`` is ignored."""

    model: str | None = None


class CompletionRequest(SamplingFields):
    """``POST /v1/completions``."""

    model: str
    prompt: str | list[str] = Field(min_length=1)
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=16, ge=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1, le=1)
