"""create_app: build the ASGI app from settings; the lifespan owns the hub and the model pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hubserve import __version__
from hubserve.config import Settings
from hubserve.gateway.admin.routes import router as admin_router
from hubserve.gateway.body_limit import BodyLimitMiddleware
from hubserve.gateway.errors import install_error_handlers
from hubserve.gateway.hf.routes import router as hf_router
from hubserve.gateway.openai.routes import router as openai_router
from hubserve.gateway.state import Services
from hubserve.gateway.tgi.routes import router as tgi_router
from hubserve.hub.store import HubStore
from hubserve.scheduler.pool import ModelPool


def create_app(settings: Settings) -> FastAPI:
    """The hubserve ASGI app; nothing is loaded until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = HubStore(settings.home / "hub")
        pool = ModelPool(store, settings)
        app.state.services = Services(settings=settings, store=store, pool=pool)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="hubserve", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(admin_router)
    app.include_router(openai_router)
    app.include_router(tgi_router)
    app.include_router(hf_router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app
