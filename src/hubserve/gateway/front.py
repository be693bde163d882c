"""Gateway: the FastAPI app with metering, the body limit and the HF inference lane in front of its stack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hubserve.gateway.body_limit import BodyLimitMiddleware
from hubserve.gateway.drain import Drain
from hubserve.gateway.endpoints.mount import EndpointMount
from hubserve.gateway.http_methods import MethodsMiddleware
from hubserve.gateway.lane import InferenceLane
from hubserve.gateway.metering import MeteringMiddleware

log = logging.getLogger(__name__)


class Gateway(FastAPI):
    """FastAPI, whose HTTP requests pass a lean front before FastAPI's own per-request stack.

    FastAPI wraps every request in its error, telemetry and body-size middlewares before routing it.
    The HF inference POSTs, most of the traffic, and OpenAI's embeddings skip all that (``lane``);
    metering and the body limit wrap both them and everything else, which goes on to FastAPI unchanged.
    """

    def __init__(
        self,
        *,
        max_body_bytes: int,
        body_timeout_s: float,
        drain: Drain,
        cors_origins: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._drain = drain
        inner: ASGIApp = MethodsMiddleware(
            BodyLimitMiddleware(InferenceLane(self._stack), max_body_bytes, body_timeout_s),
            lambda: self.routes,
        )
        if cors_origins:
            inner = CORSMiddleware(
                inner,
                allow_origins=list(cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["*"],
            )
        self._front: ASGIApp = MeteringMiddleware(EndpointMount(inner))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        try:
            await self._front(scope, receive, send)
        except asyncio.CancelledError:
            if not self._drain.begun:
                raise
            # The server cancels what is left once the shutdown's grace is over: one line, not a traceback.
            log.warning("%s %s was still running at shutdown and was cut off", scope["method"], scope["path"])

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
