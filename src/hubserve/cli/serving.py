"""How ``hubserve serve`` runs the app on uvicorn: a deadline on each request's headers, and a graceful drain.

uvicorn bounds neither how long a client may take to send its headers nor, on SIGTERM, tells the app
that it is shutting down; both are added here, around uvicorn's own httptools protocol and server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from socket import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nx-error-type: request_timeout\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def header_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing a connection whose request headers take over ``timeout_s``.

    The clock starts when the connection opens (a client that sends nothing is closed too) and, on a
    kept-alive connection, at a request's first byte; it stops when the headers are complete.
    """

    class HeaderDeadlineProtocol(HttpToolsProtocol):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if timeout_s > 0:
                self._header_timer = self.loop.call_later(timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            body = b'{"error":"The request headers were not received in %ds"}' % round(timeout_s)
            self.transport.write(_TIMEOUT_RESPONSE % (len(body), body))
            self.transport.close()

    return HeaderDeadlineProtocol


class DrainingServer(uvicorn.Server):  # type: ignore[misc]
    """uvicorn's server, which tells the app that it is shutting down before it waits for connections."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        """Begin the app's drain, then uvicorn's own shutdown (stop accepting, wait, then stop)."""
        self._on_shutdown()
        await super().shutdown(sockets)
