"""Server-sent events without I/O: the JSON of each ``data:`` line, until ``[DONE]``.

An error the server meets after the stream began comes in-band, as TGI writes it
(``{"error", "error_type"}``) or as OpenAI does (``{"error": {"message", "type", "code"}}``); it is
raised here as the SDK's typed error, with the status the same error would have had before the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from hubserve.client.errors import BY_TYPE, GenerationError, HTTPError

STATUS_OF = {"validation": 422, "overloaded": 503, "model_loading": 503, "rate_limited": 429}


def data_of(line: str) -> Any | None:
    """The JSON of a ``data:`` line; None for comments, other fields, blank lines and ``[DONE]``."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    return json.loads(payload)


def is_done(line: str) -> bool:
    """The OpenAI stream's last line."""
    return line.startswith("data:") and line[5:].strip() == "[DONE]"


def check(event: Any) -> Any:
    """The event, or its in-band error raised."""
    if isinstance(event, dict) and "error" in event and "choices" not in event and "token" not in event:
        error = event["error"]
        if isinstance(error, dict):
            message, kind = str(error.get("message") or ""), error.get("code") or error.get("type")
        else:
            message, kind = str(error), event.get("error_type")
        cls: type[HTTPError] = BY_TYPE.get(kind or "", GenerationError)
        raise cls(message, status=STATUS_OF.get(kind or "", 424), error_type=kind, body=event)
    return event


def events(lines: Iterator[str]) -> Iterator[Any]:
    """Each event of a stream of lines."""
    for line in lines:
        if is_done(line):
            return
        event = data_of(line)
        if event is not None:
            yield check(event)


async def aevents(lines: AsyncIterator[str]) -> AsyncGenerator[Any, None]:
    """``events`` over an async stream of lines."""
    async for line in lines:
        if is_done(line):
            return
        event = data_of(line)
        if event is not None:
            yield check(event)
