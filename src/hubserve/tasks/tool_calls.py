"""Tool calling: the JSON schema a forced call must follow, and parsing calls out of generated text."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hubserve.errors import ValidationFailed

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """One call: an id, the function name and its arguments as a JSON string."""

    id: str
    name: str
    arguments: str


def forced_schema(tools: list[dict[str, Any]], only: str | None) -> dict[str, Any]:
    """A schema that admits exactly one call to one of the tools (or to ``only``)."""
    functions = [t["function"] for t in tools]
    if only is not None:
        functions = [f for f in functions if f["name"] == only]
        if not functions:
            names = ", ".join(t["function"]["name"] for t in tools)
            raise ValidationFailed(
                f"tool_choice names {only!r}, which is not among the tools ({names})", param="tool_choice"
            )
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f["name"]},
                "arguments": f.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def parse_calls(text: str, tools: list[dict[str, Any]]) -> list[ToolCall]:
    """Tool calls in the output: a bare JSON call (or list of calls), or calls in <tool_call> tags."""
    names = {t["function"]["name"] for t in tools}
    chunks = _TAGGED.findall(text) or [text.strip()]
    calls = []
    for chunk in chunks:
        try:
            data = json.loads(chunk)
        except json.JSONDecodeError:
            return []
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict) or item.get("name") not in names:
                return []
            arguments = item.get("arguments", item.get("parameters", {}))
            if isinstance(arguments, str):
                arguments_text = arguments
            else:
                arguments_text = json.dumps(arguments, ensure_ascii=False)
            calls.append(
                ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=item["name"], arguments=arguments_text)
            )
    return calls
