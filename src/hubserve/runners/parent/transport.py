"""Transports for RunnerClient: how its calls reach a runner. The real one is a Unix socket.

A transport moves bytes and knows nothing of the protocol's messages, so RunnerClient is tested with a
transport that answers from a function, without a process (as httpx tests its clients).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from hubserve.protocol import JSON_MEDIA_TYPE

_JSON = {"content-type": JSON_MEDIA_TYPE}


class TransportError(Exception):
    """The runner could not be reached, or its connection closed in mid-call.

    ``unsent``: the connection could not even be opened, so the runner never saw the call.
    """

    def __init__(self, message: str, *, unsent: bool = False) -> None:
        super().__init__(message)
        self.unsent = unsent


def _transport_error(exc: aiohttp.ClientError) -> TransportError:
    return TransportError(type(exc).__name__, unsent=isinstance(exc, aiohttp.ClientConnectorError))


@dataclass(frozen=True)
class Reply:
    """A whole answer: status, media type, headers and body."""

    status: int
    media_type: str
    headers: Mapping[str, str]
    content: bytes


class Stream(Protocol):
    """An answer read line by line; closing it before its end cancels the call in the runner."""

    status: int

    async def read(self) -> bytes:
        """The whole remaining body (for an error answer)."""

    def lines(self) -> AsyncIterator[bytes]:
        """The body's lines as they arrive."""

    async def close(self) -> None:
        """Drop the connection if the body was not read to its end."""


class Transport(Protocol):
    """Sends one call's bytes to a runner."""

    async def get(self, path: str, timeout_s: float) -> Reply:
        """A small query (the health check); TimeoutError past ``timeout_s``."""

    async def post(self, path: str, body: bytes) -> Reply:
        """One call with a whole answer."""

    async def open(self, path: str, body: bytes) -> Stream:
        """One call whose answer is read as it comes."""

    async def close(self) -> None:
        """Release connections."""


class _SocketStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except aiohttp.ClientError as exc:
            raise TransportError(type(exc).__name__) from exc
        finally:
            self._response.release()

    async def lines(self) -> AsyncIterator[bytes]:
        try:
            async for line in self._response.content:
                yield line
        except aiohttp.ClientError as exc:
            raise TransportError(type(exc).__name__) from exc

    async def close(self) -> None:
        # A stream left early (the caller went away) must close its connection: that is how the runner
        # learns to cancel the sequence.
        if not self._response.content.at_eof():
            self._response.close()
        else:
            self._response.release()


class SocketTransport:
    """HTTP/1.1 over the runner's Unix socket."""

    def __init__(self, socket: Path) -> None:
        # aiohttp rather than httpx: measured on this socket, a batch call costs the gateway ~100 us of
        # CPU against ~430 us, and the gateway's CPU is what the runner's forwards compete with.
        # No timeout here: RunnerClient gives each call the deadline that fits its work.
        self._http = aiohttp.ClientSession(
            "http://runner",
            connector=aiohttp.UnixConnector(path=str(socket)),
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    def _session(self) -> aiohttp.ClientSession:
        """The open session; once closed (the runner was stopped), a call never reaches the runner."""
        if self._http.closed:
            raise TransportError("the connections to this runner are closed", unsent=True)
        return self._http

    async def get(self, path: str, timeout_s: float) -> Reply:
        try:
            async with asyncio.timeout(timeout_s), self._session().get(path) as response:
                content = await response.read()
                return Reply(response.status, response.content_type, response.headers, content)
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc

    async def post(self, path: str, body: bytes) -> Reply:
        try:
            async with self._session().post(path, data=body, headers=_JSON) as response:
                content = await response.read()
                return Reply(response.status, response.content_type, response.headers, content)
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc

    async def open(self, path: str, body: bytes) -> Stream:
        try:
            response = await self._session().post(path, data=body, headers=_JSON)
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc
        return _SocketStream(response)

    async def close(self) -> None:
        await self._http.close()
