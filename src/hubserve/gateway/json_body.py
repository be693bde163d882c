"""Parse a request body as JSON, with a 422 that says what was wrong."""

from __future__ import annotations

from typing import Any

import orjson

from hubserve.errors import ValidationFailed


def parse_json(raw: bytes) -> Any:
    """The decoded body; invalid JSON (or bytes that are not UTF-8) is a ValidationFailed."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"Request body is not valid JSON: {exc}") from None
