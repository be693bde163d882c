"""OpenAI chat and text completions over the generation engine, whole or streamed as chunks."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response

from hubserve import __version__
from hubserve.errors import HubserveError, ValidationFailed
from hubserve.gateway.errors import openai_error_body
from hubserve.gateway.generation import Collected, Generator, collect
from hubserve.gateway.openai.protocol import ChatFields, CompletionRequest
from hubserve.gateway.sse import event, sse_response
from hubserve.protocol import Generation
from hubserve.tasks.tool_calls import ToolCall, forced_schema, parse_calls
from hubserve.types.generation import Constraint, TokenEvent

FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}
FINGERPRINT = f"hubserve-{__version__}"


@dataclass(frozen=True)
class ChatPlan:
    """Everything decided before generation: the messages (the runner renders them), tools, constraint."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    forced_tool: bool
    constraint: Constraint | None


def response_constraint(response_format: dict[str, Any] | None) -> Constraint | None:
    """OpenAI's and TGI's response_format shapes as an engine constraint."""
    if not response_format or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValidationFailed(
                "response_format.json_schema.schema must be an object", param="response_format"
            )
        return Constraint("json_schema", schema)
    if kind in ("json_object", "json"):
        value = response_format.get("value")
        return Constraint("json_schema", value) if value else Constraint("json")
    if kind == "regex" and isinstance(response_format.get("value"), str):
        return Constraint("regex", response_format["value"])
    raise ValidationFailed(
        "response_format.type must be text, json_object, json_schema, json or regex", param="response_format"
    )


def plan_chat(request: ChatFields) -> ChatPlan:
    """Decide how tools and response_format constrain the output; the runner renders the messages."""
    choice = request.tool_choice
    tools = [t.model_dump(exclude_none=True) for t in request.tools or []] if choice != "none" else []
    forced_name = _forced_name(choice)
    if tools and (choice == "required" or forced_name):
        constraint: Constraint | None = Constraint("json_schema", forced_schema(tools, forced_name))
    elif choice in ("required",) or forced_name:
        raise ValidationFailed("tool_choice needs tools", param="tool_choice")
    else:
        constraint = response_constraint(request.response_format)
    return ChatPlan(
        messages=[m.as_template_input() for m in request.messages],
        tools=tools,
        forced_tool=constraint is not None
        and bool(tools)
        and constraint.kind == "json_schema"
        and (choice == "required" or forced_name is not None),
        constraint=constraint,
    )


def _forced_name(choice: str | dict[str, Any] | None) -> str | None:
    if isinstance(choice, dict):
        function = choice.get("function") or {}
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            raise ValidationFailed("tool_choice must name a function", param="tool_choice")
        return name
    if choice not in (None, "auto", "none", "required"):
        raise ValidationFailed("tool_choice must be auto, none, required or a function", param="tool_choice")
    return None


def _max_tokens(generator: Generator, asked: int | None) -> int:
    """What to ask the runner for: it cuts this to the room the prompt leaves in the context."""
    return max(1, min(asked or generator.context_length, generator.context_length))


async def chat(generator: Generator, request: ChatFields) -> Response:
    """Serve ``/v1/chat/completions``."""
    if request.top_logprobs is not None and not request.logprobs:
        raise ValidationFailed("top_logprobs needs logprobs=true", param="top_logprobs")
    plan = plan_chat(request)
    asked = request.max_completion_tokens or request.max_tokens
    logprobs = (request.top_logprobs or 0) if request.logprobs else None
    params = request.sampling(_max_tokens(generator, asked), logprobs, plan.constraint)
    events = await generator.chat(plan.messages, plan.tools, params)
    meta = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": generator.model,  # the route's model: the URL's, else the body's, else the default
        "system_fingerprint": FINGERPRINT,
    }
    if request.stream:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return sse_response(_chat_chunks(events, meta, plan, request.logprobs, include_usage))
    done = await collect(events)
    calls = parse_calls(done.text, plan.tools) if plan.tools else []
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else done.text, "refusal": None}
    if calls:
        message["tool_calls"] = [_call(c) for c in calls]
    choice = {
        "index": 0,
        "message": message,
        "logprobs": {"content": [_logprob(t) for t in done.tokens]} if request.logprobs else None,
        "finish_reason": "tool_calls" if calls else FINISH[done.last.finish_reason or "length"],
    }
    return JSONResponse(
        {**meta, "object": "chat.completion", "choices": [choice], "usage": _usage(done.last)}
    )


async def _chat_chunks(
    events: Generation,
    meta: dict[str, Any],
    plan: ChatPlan,
    logprobs: bool,
    include_usage: bool,
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}
        return event({**meta, "object": "chat.completion.chunk", "choices": [choice], "usage": None})

    buffered = Collected()
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for item in events:
            buffered.tokens.append(item)
            buffered.text += item.delta
            if plan.tools:
                continue  # a tool call is only known once the output is complete
            lp = {"content": [_logprob(item)]} if logprobs else None
            if item.delta or lp:
                yield chunk({"content": item.delta}, lp=lp)
        last = buffered.last
        calls = parse_calls(buffered.text, plan.tools) if plan.tools else []
        if calls:
            for index, call in enumerate(calls):
                head = {
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                yield chunk({"tool_calls": [head]})
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": call.arguments}}]})
            yield chunk({}, "tool_calls")
        else:
            if plan.tools and buffered.text:
                yield chunk({"content": buffered.text})
            yield chunk({}, FINISH[last.finish_reason or "length"])
        if include_usage:
            yield event({**meta, "object": "chat.completion.chunk", "choices": [], "usage": _usage(last)})
    except HubserveError as exc:
        yield event(openai_error_body(exc))
    finally:
        await events.aclose()
    yield event("[DONE]")


async def completions(generator: Generator, request: CompletionRequest) -> Response:
    """Serve ``/v1/completions`` (several prompts give several choices; streaming takes one prompt)."""
    if request.suffix:
        raise ValidationFailed("suffix (fill-in-the-middle) is not supported", param="suffix")
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    if request.stream and len(prompts) != 1:
        raise ValidationFailed("Streaming takes a single prompt", param="prompt")
    meta = {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": generator.model,  # the route's model: the URL's, else the body's, else the default
        "system_fingerprint": FINGERPRINT,
    }
    if not all(prompts):
        raise ValidationFailed("prompt must not be empty", param="prompt")
    constraint = response_constraint(request.response_format)
    params = request.sampling(_max_tokens(generator, request.max_tokens), request.logprobs, constraint)
    runs: list[tuple[str, Generation]] = []
    try:
        for text in prompts:
            runs.append((text, await generator.generate(text, params)))
    except BaseException:
        for _, started in runs:
            await started.aclose()
        raise
    if request.stream:
        text, events = runs[0]
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return sse_response(
            _completion_chunks(events, meta, text if request.echo else "", request.logprobs, include_usage)
        )
    choices = []
    prompt_tokens = completion_tokens = 0
    for index, (text, events) in enumerate(runs):
        done = await collect(events)
        prefix = text if request.echo else ""
        choices.append(
            {
                "index": index,
                "text": prefix + done.text,
                "logprobs": _completion_logprobs(done.tokens, len(prefix))
                if request.logprobs is not None
                else None,
                "finish_reason": FINISH[done.last.finish_reason or "length"],
            }
        )
        prompt_tokens += done.last.prompt_tokens
        completion_tokens += done.last.generated_tokens
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return JSONResponse({**meta, "object": "text_completion", "choices": choices, "usage": usage})


async def _completion_chunks(
    events: Generation,
    meta: dict[str, Any],
    echo: str,
    logprobs: int | None,
    include_usage: bool,
) -> AsyncIterator[str]:
    def chunk(text: str, finish: str | None, lp: Any = None) -> str:
        choice = {"index": 0, "text": text, "logprobs": lp, "finish_reason": finish}
        return event({**meta, "object": "text_completion", "choices": [choice], "usage": None})

    offset = len(echo)
    try:
        if echo:
            yield chunk(echo, None)
        async for item in events:
            lp = _completion_logprobs([item], offset) if logprobs is not None else None
            offset += len(item.delta)
            finish = FINISH[item.finish_reason] if item.finish_reason else None
            if item.delta or finish or lp:
                yield chunk(item.delta, finish, lp)
            if item.finish_reason and include_usage:
                yield event({**meta, "object": "text_completion", "choices": [], "usage": _usage(item)})
    except HubserveError as exc:
        yield event(openai_error_body(exc))
    finally:
        await events.aclose()
    yield event("[DONE]")


def _usage(last: TokenEvent) -> dict[str, Any]:
    return {
        "prompt_tokens": last.prompt_tokens,
        "completion_tokens": last.generated_tokens,
        "total_tokens": last.prompt_tokens + last.generated_tokens,
    }


def _call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _logprob(item: TokenEvent) -> dict[str, Any]:
    return {
        "token": item.text,
        "logprob": item.logprob,
        "bytes": list(item.text.encode()),
        "top_logprobs": [
            {"token": t.text, "logprob": t.logprob, "bytes": list(t.text.encode())} for t in item.top
        ],
    }


def _completion_logprobs(tokens: list[TokenEvent], start: int) -> dict[str, Any]:
    offsets = []
    position = start
    for t in tokens:
        offsets.append(position)
        position += len(t.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{o.text: o.logprob for o in t.top} for t in tokens],
        "text_offset": offsets,
    }
