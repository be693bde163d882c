"""Gateway: the FastAPI app with metering, the body limit and the HF inference lane in front of its stack."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from hubserve.gateway.body_limit import BodyLimitMiddleware
from hubserve.gateway.hf.lane import InferenceLane
from hubserve.gateway.metering import MeteringMiddleware


class Gateway(FastAPI):
    """FastAPI, whose HTTP requests pass a lean front before FastAPI's own per-request stack.

    FastAPI wraps every request in its error, telemetry and body-size middlewares before routing it.
    The HF inference POSTs, most of the traffic, skip all that (``hf.lane``); metering and the body
    limit wrap both them and everything else, which goes on to FastAPI unchanged.
    """

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._front: ASGIApp = MeteringMiddleware(
            BodyLimitMiddleware(InferenceLane(self._stack), max_bytes=max_body_bytes)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self._front(scope, receive, send)

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
