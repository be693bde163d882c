"""Services: the long-lived objects the lifespan builds, and the dependency that hands them to routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from hubserve.accounts.store import AccountStore
from hubserve.accounts.usage import UsageRecorder
from hubserve.config import Settings
from hubserve.gateway.access import AccessControl
from hubserve.gateway.drain import Drain
from hubserve.gateway.endpoint_controller import EndpointController
from hubserve.gateway.files import ShortLivedFiles
from hubserve.gateway.hub_view import ModelCatalog
from hubserve.scheduler.cache import ResponseCache
from hubserve.scheduler.scheduler import Scheduler


@dataclass(frozen=True)
class Services:
    """Everything a route may use."""

    settings: Settings
    store: ModelCatalog
    scheduler: Scheduler
    cache: ResponseCache
    accounts: AccountStore
    access: AccessControl
    usage: UsageRecorder
    drain: Drain
    endpoints: EndpointController | None = None
    files: ShortLivedFiles = field(default_factory=lambda: ShortLivedFiles(3600.0, 256 * 1024 * 1024))


async def services_dependency(request: Request) -> Services:
    """FastAPI dependency: the services of the running app (async: FastAPI runs a sync one in a thread)."""
    return get_services(request)


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services
