"""build_gateway: the ASGI app, its routers and error handlers, around a lifespan that builds its services."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from hubserve import __version__
from hubserve.config import Settings
from hubserve.gateway.accounts.routes import router as accounts_router
from hubserve.gateway.admin.routes import router as admin_router
from hubserve.gateway.docs import install_docs
from hubserve.gateway.drain import Drain
from hubserve.gateway.endpoints.routes import router as endpoints_router
from hubserve.gateway.errors import install_error_handlers
from hubserve.gateway.front import Gateway
from hubserve.gateway.hf.routes import router as hf_router
from hubserve.gateway.hubapi.routes import router as hubapi_router
from hubserve.gateway.openai.routes import router as openai_router
from hubserve.gateway.rerank.routes import router as rerank_router
from hubserve.gateway.tei.routes import router as tei_router
from hubserve.gateway.tgi.routes import router as tgi_router

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_gateway(settings: Settings, lifespan: Lifespan, drain: Drain | None = None) -> FastAPI:
    """The gateway app; ``lifespan`` must set ``app.state.services`` (``gateway.state.Services``)."""
    app = Gateway(
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        drain=drain or Drain(settings.shutdown_grace_s),
        cors_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
        title="hubserve",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # gateway.docs serves the schema and its pages, offline and behind a token
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(hf_router)  # the gateway's front serves their POSTs (gateway.lane)
    app.include_router(admin_router)
    app.include_router(hubapi_router)
    app.include_router(accounts_router)
    app.include_router(openai_router)
    app.include_router(tgi_router)
    app.include_router(tei_router)
    app.include_router(rerank_router)
    app.include_router(endpoints_router)
    install_docs(app, settings)
    return app
