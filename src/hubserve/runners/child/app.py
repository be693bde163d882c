"""The runner's own small HTTP API, served on a Unix socket: the protocol's load, encode and generate."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from hubserve import heap
from hubserve.errors import HubserveError
from hubserve.hub.store import HubStore
from hubserve.protocol import (
    ARRAY_MEDIA_TYPE,
    CANCEL,
    ENCODE,
    GENERATE,
    HEALTH,
    INFO,
    JSON_MEDIA_TYPE,
    LOAD,
    OUT_OF_MEMORY_EXIT,
    STREAM,
    STREAM_MEDIA_TYPE,
    LoadReply,
    RunnerConfig,
    array_to_wire,
    dumps,
    encode_call,
    error_line,
    error_to_data,
    event_line,
    generate_call,
    header_line,
)
from hubserve.runners.child.model_host import ModelHost
from hubserve.types.names import ModelId

log = logging.getLogger(__name__)


# How native libraries report a failed allocation, where it does not surface as MemoryError
# (onnxruntime: "bad allocation" or "Failed to allocate memory"; C++: std::bad_alloc).
_ALLOCATION_FAILURES = ("bad allocation", "bad_alloc", "failed to allocate memory", "out of memory")


def out_of_memory(exc: BaseException) -> bool:
    """Whether an error means the process could not get memory."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _ALLOCATION_FAILURES)


def exit_if_out_of_memory(exc: BaseException) -> None:
    """End the process on an out-of-memory error: half-done allocations may have left any library broken.

    The gateway sees the exit (``OUT_OF_MEMORY_EXIT``), fails the calls in flight and starts a new runner.
    """
    if out_of_memory(exc):
        print(f"out of memory: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(OUT_OF_MEMORY_EXIT)


def create_runner_app(config: RunnerConfig) -> FastAPI:
    """The runner app, its own process's server; it serves whichever model its first load names."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.host = ModelHost(config, HubStore(config.hub_dir))
        try:
            yield
        finally:
            app.state.host.close()

    app = FastAPI(lifespan=lifespan)

    async def on_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubserveError)
        return JSONResponse(error_to_data(exc), status_code=exc.status_code)

    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
        exit_if_out_of_memory(exc)
        log.exception("runner error", exc_info=exc)
        return JSONResponse(
            {"error": f"{type(exc).__name__}: {exc}", "error_type": "internal"}, status_code=500
        )

    app.add_exception_handler(HubserveError, on_error)
    app.add_exception_handler(Exception, on_crash)

    def host(request: Request) -> ModelHost:
        value = request.app.state.host
        assert isinstance(value, ModelHost)
        return value

    async def body(request: Request) -> dict[str, Any]:
        data = orjson.loads(await request.body())
        assert isinstance(data, dict)
        return data

    @app.get(HEALTH)
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", "model": str(host(request).model_id) if host(request).model_id else None}

    @app.post(LOAD)
    async def load(request: Request) -> Response:
        model = host(request)
        call = await body(request)
        threads = call.get("threads")
        seconds = await model.load(
            ModelId.parse(str(call["model_id"])), threads=threads if isinstance(threads, int) else None
        )
        # A runner process serves this one model for life; a full pass first would delay its cold start.
        heap.settle(collect=False)
        reply = LoadReply(seconds, model.one_time_s, model.info()["rss_bytes"], model.generation_info())
        return Response(dumps(reply), media_type=JSON_MEDIA_TYPE)

    @app.post(STREAM)
    async def stream(request: Request) -> StreamingResponse:
        pieces = host(request).stream(encode_call(await body(request)))
        first = await anext(pieces)  # errors before the first piece become a plain error response

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield dumps(first) + b"\n"
                async for piece in pieces:
                    yield dumps(piece) + b"\n"
            except HubserveError as exc:
                yield error_line(exc)
            finally:
                await pieces.aclose()

        return StreamingResponse(lines(), media_type=STREAM_MEDIA_TYPE)

    @app.post(CANCEL)
    async def cancel(request: Request) -> dict[str, Any]:
        return {"cancelled": host(request).cancel(str((await body(request)).get("call_id", "")))}

    @app.get(INFO)
    async def info(request: Request) -> dict[str, Any]:
        return host(request).info()

    @app.post(ENCODE)
    async def encode(request: Request) -> Response:
        result = await host(request).encode(encode_call(await body(request)))
        if isinstance(result, np.ndarray):
            content, headers = array_to_wire(result)
            return Response(content, media_type=ARRAY_MEDIA_TYPE, headers=headers)
        return Response(dumps(result), media_type=JSON_MEDIA_TYPE)

    @app.post(GENERATE)
    async def generate(request: Request) -> StreamingResponse:
        header, events = await host(request).generate(generate_call(await body(request)))
        first = await anext(events)  # errors before the first token become a plain error response

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield header_line(header)
                yield event_line(first)
                async for item in events:
                    yield event_line(item)
            except HubserveError as exc:
                yield error_line(exc)
            except Exception as exc:
                exit_if_out_of_memory(exc)
                raise
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        return StreamingResponse(lines(), media_type=STREAM_MEDIA_TYPE)

    return app
