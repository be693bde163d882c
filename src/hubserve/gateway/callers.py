"""Route dependencies that name the caller and check the scope a route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from hubserve.accounts.principal import Principal, Scope
from hubserve.gateway.access import AccessControl
from hubserve.gateway.metering import meter_of
from hubserve.gateway.state import get_services


async def caller(request: Request) -> Principal:
    """The principal of this request (anonymous when allowed and no token was sent)."""
    meter = meter_of(request)
    if meter.endpoint is not None:  # an endpoint's URL: its mount has checked the caller already
        meter.principal = meter.endpoint.principal
        return meter.endpoint.principal
    client = request.client
    principal = await get_services(request).access.authenticate(
        request.headers.get("authorization"), client.host if client else "unknown"
    )
    meter_of(request).principal = principal
    return principal


async def authorize(request: Request, scope: Scope) -> Principal:
    """The caller, if their token grants ``scope``; for routes too busy for a dependency (see hf.routes)."""
    principal = await caller(request)
    AccessControl.require(principal, scope)
    return principal


def _requiring(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        return await authorize(request, scope)

    return dependency


Reader = Annotated[Principal, Depends(_requiring(Scope.READ))]
Inferrer = Annotated[Principal, Depends(_requiring(Scope.INFERENCE))]
Writer = Annotated[Principal, Depends(_requiring(Scope.WRITE))]
Admin = Annotated[Principal, Depends(_requiring(Scope.ADMIN))]
