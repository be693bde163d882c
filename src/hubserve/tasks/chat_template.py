"""Render chat messages into a prompt with the model's Jinja template, or a plain one for base models."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from hubserve.errors import BadRequest, ValidationFailed

# For models that ship no template (base models such as Gemma 3 270M): plain "Role: text" turns.
PLAIN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message.role == 'system' %}{{ message.content }}\n\n"
    "{% elif message.role == 'user' %}User: {{ message.content }}\n"
    "{% elif message.role == 'assistant' %}Assistant: {{ message.content }}\n"
    "{% elif message.role == 'tool' %}Tool result: {{ message.content }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
# A base model keeps writing the dialogue: stop where it starts the next turn.
PLAIN_STOPS = ("User:", "Assistant:")

TOOL_INSTRUCTIONS = (
    "You can call functions. To call one, reply with only a JSON object of the form "
    '{{"name": <function name>, "arguments": <object of arguments>}}.\nFunctions:\n{tools}'
)


def _raise(message: str) -> None:
    raise ValidationFailed(f"Chat template error: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise BadRequest(f"The model's chat template does not compile: {exc}") from exc


def render(
    messages: list[dict[str, Any]],
    *,
    template: str | None,
    special_tokens: dict[str, str],
    tools: list[dict[str, Any]] | None = None,
) -> str:
    """The prompt for ``messages``; tools go into the template when it takes them, else into a system turn."""
    from jinja2 import TemplateError

    source = template or PLAIN_TEMPLATE
    if tools and "tools" not in source:
        messages = _with_tool_instructions(messages, tools)
        tools = None
    try:
        return str(
            _compile(source).render(
                messages=messages, tools=tools, add_generation_prompt=True, **special_tokens
            )
        )
    except TemplateError as exc:
        raise ValidationFailed(f"Chat template error: {exc}") from exc


def _with_tool_instructions(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    specs = json.dumps([t.get("function", t) for t in tools], ensure_ascii=False)
    note = TOOL_INSTRUCTIONS.format(tools=specs)
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]
