"""The gateway's front: HEAD and OPTIONS on every route, CORS when configured, and bounded request bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message

from hubserve.config import Settings
from hubserve.gateway.app import build_gateway
from hubserve.gateway.body_limit import BodyLimitMiddleware
from hubserve.gateway.errors import install_error_handlers

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def no_services(app: FastAPI) -> AsyncIterator[None]:
    yield


def client(**settings: Any) -> httpx.AsyncClient:
    app = build_gateway(Settings.from_env({}, **settings), no_services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_head_is_get_without_a_body_and_options_lists_the_methods() -> None:
    async with client() as c:
        head = await c.head("/health")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len((await c.get("/health")).content))
        options = await c.options("/health")
        assert options.status_code == 204
        assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
        assert "POST" in (await c.options("/v1/chat/completions")).headers["allow"]
        missing = await c.options("/no/such/route")
        assert missing.status_code == 404 and missing.headers["x-error-type"] == "not_found"


async def test_cors_is_off_by_default_and_answers_preflights_when_origins_are_set() -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    async with client() as c:
        plain = await c.get("/health", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in plain.headers
    async with client(cors_origins="https://app.example, https://other.example") as c:
        answer = await c.options("/v1/chat/completions", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        got = await c.get("/health", headers={"Origin": "https://app.example"})
        assert got.headers["access-control-allow-origin"] == "https://app.example"
        stranger = await c.options("/health", headers={**preflight, "Origin": "https://evil.example"})
        assert stranger.status_code == 400


def reading_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


async def call(app: Any, parts: list[bytes], *, stall: bool) -> tuple[int, dict[bytes, bytes]]:
    """Send ``parts`` as a chunked body (then go silent when ``stall``); the status and headers."""
    queue = list(parts)
    sent: list[Message] = []

    async def receive() -> Message:
        if queue:
            return {"type": "http.request", "body": queue.pop(0), "more_body": bool(queue) or stall}
        await asyncio.Event().wait()  # a client that stopped sending
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"transfer-encoding", b"chunked")]
    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": headers, "query_string": b""}
    await asyncio.wait_for(app(scope, receive, send), 5)
    start = sent[0]
    return start["status"], dict(start["headers"])


async def test_a_stalled_body_is_408_and_closes_the_connection() -> None:
    guarded = BodyLimitMiddleware(reading_app(), max_bytes=1000, part_timeout_s=0.05)
    status, headers = await call(guarded, [b"x" * 10], stall=True)
    assert status == 408 and headers[b"x-error-type"] == b"request_timeout"
    assert headers[b"connection"] == b"close"
    assert (await call(guarded, [b"x" * 10, b"y" * 10], stall=False))[0] == 200


async def test_an_over_limit_chunked_body_is_413_and_closes_the_connection() -> None:
    guarded = BodyLimitMiddleware(reading_app(), max_bytes=100, part_timeout_s=1.0)
    status, headers = await call(guarded, [b"x" * 60] * 5, stall=False)
    assert status == 413 and headers[b"x-error-type"] == b"payload_too_large"
    assert headers[b"connection"] == b"close"


async def test_an_answer_before_the_body_was_read_closes_the_connection() -> None:
    guarded = BodyLimitMiddleware(reading_app(), max_bytes=1000, part_timeout_s=1.0)

    async def wrong_path(scope: Any, receive: Any, send: Any) -> None:
        await guarded({**scope, "path": "/elsewhere"}, receive, send)

    status, headers = await call(wrong_path, [b"x" * 10, b"y" * 10], stall=False)
    assert status == 404 and headers[b"connection"] == b"close"
    status, headers = await call(guarded, [b"x" * 10], stall=False)  # read whole: kept alive
    assert status == 200 and b"connection" not in headers
