"""Services: the long-lived objects the lifespan builds, and the dependency that hands them to routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from hubserve.config import Settings
from hubserve.hub.store import HubStore
from hubserve.scheduler.pool import ModelPool


@dataclass(frozen=True)
class Services:
    """Everything a route may use."""

    settings: Settings
    store: HubStore
    pool: ModelPool


def get_services(request: Request) -> Services:
    """FastAPI dependency: the services of the running app."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services
