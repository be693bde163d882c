"""Pure ASGI middleware that bounds request bodies: 413 over the size limit, 408 when a body stalls.

Either way, and whenever an answer starts before its body was read, the response closes the connection,
so the server stops reading what the client still sends.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubserve.errors import PayloadTooLarge, RequestTimeout

CLOSE = (b"connection", b"close")


class BodyLimitMiddleware:
    """Reject by Content-Length up front; count streamed bytes for bodies without one; time each part."""

    def __init__(self, app: ASGIApp, max_bytes: int, part_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.part_timeout_s = part_timeout_s if part_timeout_s > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        has_body = b"chunked" in headers.get(b"transfer-encoding", b"").lower() or declared not in (
            None,
            b"0",
        )
        body_done = not has_body
        refused = False

        async def counted() -> Message:
            nonlocal seen, body_done, refused
            if body_done:  # after the body, receive() only waits for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout(self.part_timeout_s):
                    message = await receive()
            except TimeoutError:
                refused = True
                raise RequestTimeout(
                    f"The request body stalled: no data for {self.part_timeout_s:g}s"
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.max_bytes:
                    refused = True
                    raise PayloadTooLarge(self._message())
            return message

        async def closing(message: Message) -> None:
            # An answer given before the body was read (refused, or an error that did not need it) closes
            # the connection: otherwise the server would go on reading, and dropping, the rest of it.
            if (refused or not body_done) and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), CLOSE]
            await send(message)

        await self.app(scope, counted, closing)

    def _message(self) -> str:
        return f"Request body is larger than the limit of {self.max_bytes} bytes"

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": self._message()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": PayloadTooLarge.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    CLOSE,
                    (b"x-error-type", PayloadTooLarge.error_type.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
