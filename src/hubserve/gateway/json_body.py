"""The one JSON body reader of every dialect: a 422 that says what was wrong, never a crash.

orjson refuses what would break later: nesting past its depth limit and lone surrogates (text that
could not be encoded again for the runner) are invalid JSON here, not errors deep in a handler.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from hubserve.errors import ValidationFailed


def parse_json(raw: bytes) -> Any:
    """The decoded body; invalid JSON (or bytes that are not UTF-8) is a ValidationFailed."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"Request body is not valid JSON: {exc}") from None


async def read_object(request: Request, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body as a JSON object; ``empty`` stands for a body with no bytes, else that is a 422."""
    raw = await request.body()
    if not raw.strip():
        if empty is not None:
            return empty
        raise ValidationFailed("Request body is empty; expected a JSON object")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    return data


async def read_inputs_body(request: Request) -> dict[str, Any]:
    """An HF or TGI body: a JSON object with an ``inputs`` field."""
    raw = await request.body()
    if not raw.strip():
        raise ValidationFailed('Request body is empty; expected JSON like {"inputs": ...}')
    data = parse_json(raw)
    if not isinstance(data, dict) or "inputs" not in data:
        raise ValidationFailed('Request body must be a JSON object with an "inputs" field', param="inputs")
    return data
