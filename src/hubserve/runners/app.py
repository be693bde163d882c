"""The runner's own small HTTP API, served on a Unix socket: load, encode, tokenize, generate, info."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from hubserve import heap
from hubserve.config import Settings
from hubserve.errors import HubserveError
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.runners.model_host import ModelHost
from hubserve.runners.wire import (
    ARRAY_MEDIA_TYPE,
    EncodeCall,
    GenerateCall,
    LoadCall,
    TokenizeCall,
    array_to_wire,
    error_to_data,
    event_to_line,
    params_from_wire,
)
from hubserve.tasks.base import CallContext

log = logging.getLogger(__name__)


def create_runner_app(settings: Settings) -> FastAPI:
    """The runner app, its own process's server; it serves whichever model its first /load names."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.host = ModelHost(settings, HubStore(settings.hub_dir))
        try:
            yield
        finally:
            app.state.host.close()

    app = FastAPI(lifespan=lifespan)

    async def on_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubserveError)
        return JSONResponse(error_to_data(exc), status_code=exc.status_code)

    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
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

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", "model": str(host(request).model_id) if host(request).model_id else None}

    @app.post("/load")
    async def load(call: LoadCall, request: Request) -> dict[str, Any]:
        seconds = await host(request).load(ModelId.parse(call.model_id))
        # A runner process serves this one model for life; a full pass first would delay its cold start.
        heap.settle(collect=False)
        return {"load_s": seconds, "one_time_s": host(request).one_time_s, **host(request).info()}

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        return host(request).info()

    @app.post("/encode")
    async def encode(call: EncodeCall, request: Request) -> Response:
        version = tuple(call.hf_hub_version) if call.hf_hub_version else None
        ctx = CallContext(hf_hub_version=version, max_batch_inputs=call.max_batch_inputs)
        result = await host(request).encode(call.task, call.envelope, ctx)
        if isinstance(result, np.ndarray):
            content, headers = array_to_wire(result)
            return Response(content, media_type=ARRAY_MEDIA_TYPE, headers=headers)
        return Response(orjson.dumps(result), media_type="application/json")

    @app.post("/tokenize")
    async def tokenize(call: TokenizeCall, request: Request) -> dict[str, Any]:
        backend = host(request).require_generator().backend
        ids = backend.tokenize(call.text, add_special=call.add_special)
        return {"ids": ids, "texts": [backend.token_bytes(i).decode(errors="replace") for i in ids]}

    @app.post("/generate")
    async def generate(call: GenerateCall, request: Request) -> StreamingResponse:
        events = host(request).stream(call.prompt, params_from_wire(call.params))
        first = await anext(events)  # errors before the first token become a plain error response

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield event_to_line(first)
                async for item in events:
                    yield event_to_line(item)
            except HubserveError as exc:
                import json

                yield (json.dumps(error_to_data(exc)) + "\n").encode()
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app
