"""Metering: one Meter per request, filled in by its route, recorded as usage when the response ends.

A pure ASGI middleware (no per-request task or body copy) puts the Meter in the request scope, adds the
rate-limit headers of the call to the response, and hands a UsageEvent to the recorder once the last
byte has been sent, so streamed generations are counted whole.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubserve.accounts.principal import Principal
from hubserve.accounts.ratelimit import Decision
from hubserve.accounts.usage import UsageEvent
from hubserve.types.names import ModelId


@dataclass(frozen=True)
class EndpointBinding:
    """A request to an Inference Endpoint's URL: the endpoint, the model it serves, who is calling.

    Set by ``gateway.endpoints.mount`` before any route runs; routes then serve this model on the
    endpoint's own runners, with no serverless rate limit, and usage records the endpoint's name.
    """

    name: str  # "namespace/name", also the scheduler's route to its runners
    model_id: ModelId
    principal: Principal


@dataclass
class Meter:
    """What one request used; routes fill it in, the middleware records it."""

    request_id: str
    started_ms: int
    started: float
    principal: Principal | None = None
    decision: Decision | None = None
    model: str | None = None
    task: str = ""
    route: str = ""
    input_count: int = 0
    output_count: int = 0
    unit: str = "items"
    cache_hit: bool = False
    stream_status: int | None = None  # the status of an error that ended a stream after its 200 head
    characters: int | None = None  # characters of the input, for x-compute-characters
    endpoint: EndpointBinding | None = None

    def count(self, inputs: int, outputs: int, unit: str) -> None:
        """Add what the call consumed and produced (tokens for generation, items for encoder tasks)."""
        self.input_count += inputs
        self.output_count += outputs
        self.unit = unit

    def event(self, status: int) -> UsageEvent | None:
        """The usage record of this call, or None when it never reached a model."""
        if self.model is None:
            return None
        principal = self.principal
        return UsageEvent(
            request_id=self.request_id,
            at_ms=self.started_ms,
            account_id=principal.account_id if principal else None,
            token_id=principal.token_id if principal else None,
            client=principal.client if principal else "anonymous",
            model=self.model,
            task=self.task,
            route=self.route,
            status=self.stream_status or status,
            input_count=self.input_count,
            output_count=self.output_count,
            unit=self.unit,
            compute_ms=round((time.perf_counter() - self.started) * 1000),
            cache_hit=self.cache_hit,
            endpoint=self.endpoint.name if self.endpoint is not None else None,
        )


def meter_of(request: Request) -> Meter:
    """The Meter of a request (the middleware always sets one)."""
    meter = request.scope["state"]["meter"]
    assert isinstance(meter, Meter)
    return meter


class MeteringMiddleware:
    """Give each HTTP request a Meter; record it once the response is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Request ids: a random per-process prefix and a counter; uuid4 costs a getrandom() call per request.
        self._id_prefix = secrets.token_hex(10)
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"{self._id_prefix}{next(self._ids):012x}"
        meter = Meter(request_id, time.time_ns() // 1_000_000, time.perf_counter())
        scope.setdefault("state", {})["meter"] = meter
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                if meter.model is not None:  # the model that served it, also when an alias was asked for
                    extra.append((b"x-model-id", meter.model.encode()))
                    if status < 400:
                        extra += _compute_headers(message.get("headers", []), meter)
                if meter.decision is not None and meter.decision.allowed:
                    extra += [(k.lower().encode(), v.encode()) for k, v in meter.decision.headers().items()]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            event = meter.event(status)
            if event is not None:
                _recorder(scope).record(event)


def _compute_headers(headers: list[tuple[bytes, bytes]], meter: Meter) -> list[tuple[bytes, bytes]]:
    """HF's ``x-compute-*`` and ``x-task`` on a model's answer, where its route did not set them itself.

    For a stream, ``x-compute-time`` is the time to its first event.
    """
    have = {name.lower() for name, _ in headers}
    extra = []
    if b"x-task" not in have and meter.task:
        extra.append((b"x-task", meter.task.encode()))
    if b"x-compute-type" not in have:
        extra.append((b"x-compute-type", b"cache" if meter.cache_hit else b"cpu"))
    if b"x-compute-time" not in have:
        extra.append((b"x-compute-time", f"{time.perf_counter() - meter.started:.4f}".encode()))
    if b"x-compute-characters" not in have and meter.characters is not None:
        extra.append((b"x-compute-characters", str(meter.characters).encode()))
    return extra


def _recorder(scope: Scope) -> Any:
    return scope["app"].state.services.usage
