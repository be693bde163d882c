"""OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``; 422 becomes 400 there."""

from __future__ import annotations

from typing import Any

from hubserve.errors import HubserveError, ValidationFailed


def openai_status(error: HubserveError) -> int:
    """OpenAI clients expect 400 for an invalid request, where HF/TGI use 422."""
    return 400 if isinstance(error, ValidationFailed) else error.status_code


def openai_error_body(error: HubserveError) -> dict[str, Any]:
    """The body OpenAI clients parse into ``e.message``, ``e.type``, ``e.param`` and ``e.code``."""
    kind = "invalid_request_error" if openai_status(error) < 500 else "server_error"
    if error.status_code == 429:
        kind = "rate_limit_exceeded"
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.error_type}}
