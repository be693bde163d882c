"""The one JSON body reader of every dialect: a 4xx that says what was wrong, never a crash.

orjson refuses what would break later: a lone surrogate (an escaped ``ud800`` with no pair, text
that could not be encoded again for the runner) is invalid JSON here, not an error deep in a handler;
nesting deeper than ``max_json_depth`` (``HUBSERVE_MAX_JSON_DEPTH``) is ``json_too_deep``, found
without recursion.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from starlette.requests import Request

from hubserve.errors import ValidationFailed
from hubserve.gateway.state import get_services

ORJSON_MAX_DEPTH = 1024  # orjson refuses anything deeper itself


class JsonTooDeep(ValidationFailed):
    """The body nests arrays and objects deeper than the server's limit."""

    error_type = "json_too_deep"


def parse_json(raw: bytes, *, max_depth: int = ORJSON_MAX_DEPTH) -> Any:
    """The decoded body; invalid JSON (or bytes that are not UTF-8) is a ValidationFailed."""
    try:
        data = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        message = str(exc)
        if "depth limit" in message:
            raise _too_deep(min(max_depth, ORJSON_MAX_DEPTH)) from None
        if "surrogate" in message:
            message += " (an escaped UTF-16 surrogate must come in a pair; a lone one is no character)"
        raise ValidationFailed(f"Request body is not valid JSON: {message}") from None
    # A body with fewer brackets than the limit cannot nest past it: most bodies skip the walk.
    if raw.count(b"[") + raw.count(b"{") > max_depth and _nests_deeper(data, max_depth):
        raise _too_deep(max_depth)
    return data


def _too_deep(limit: int) -> JsonTooDeep:
    return JsonTooDeep(
        f"Request body nests arrays and objects more than {limit} levels deep (HUBSERVE_MAX_JSON_DEPTH)"
    )


def _nests_deeper(data: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels; level by level, so no recursion to exhaust."""
    level = [data] if isinstance(data, dict | list) else []
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            items = node.values() if isinstance(node, dict) else node
            below.extend(item for item in items if isinstance(item, dict | list))
        if not below:
            return False
        level = below
    return bool(level)


def _is_json(request: Request, raw: bytes) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind:
        return kind == "application/json" or kind.endswith("+json")
    return raw.lstrip()[:1] == b"{"


def _max_depth(request: Request) -> int:
    return get_services(request).settings.max_json_depth


async def read_object(request: Request, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body as a JSON object; ``empty`` stands for a body with no bytes, else that is a 422."""
    raw = await request.body()
    if not raw.strip():
        if empty is not None:
            return empty
        raise ValidationFailed("Request body is empty; expected a JSON object")
    data = parse_json(raw, max_depth=_max_depth(request))
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    return data


async def read_inputs_body(request: Request, *, binary: bool = False) -> dict[str, Any]:
    """An HF or TGI body: a JSON object with an ``inputs`` field.

    With ``binary`` (tasks whose input is a file), a body that is not JSON is the file itself, as
    huggingface_hub sends one without parameters: it becomes ``{"inputs": "<base64>"}``.
    """
    raw = await request.body()
    if binary and not _is_json(request, raw):
        return {"inputs": base64.b64encode(raw).decode()}
    if not raw.strip():
        raise ValidationFailed('Request body is empty; expected JSON like {"inputs": ...}')
    data = parse_json(raw, max_depth=_max_depth(request))
    if not isinstance(data, dict) or "inputs" not in data:
        raise ValidationFailed('Request body must be a JSON object with an "inputs" field', param="inputs")
    return data
