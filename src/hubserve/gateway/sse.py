"""Server-sent events: encode JSON events, and stream them so that a client disconnect stops generation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(data: Any, *, space: bool = True) -> str:
    """One ``data:`` event; TGI writes no space after the colon, OpenAI writes one."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {body}\n\n" if space else f"data:{body}\n\n"


def sse_response(events: AsyncIterator[str], headers: dict[str, str] | None = None) -> StreamingResponse:
    """Stream pre-encoded events; starlette cancels the iterator when the client goes away."""
    return StreamingResponse(
        events, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
    )
