"""create_app: build the ASGI app from settings; the lifespan owns the hub, the runners and the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hubserve import __version__, heap
from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.ratelimit import make_rate_limiter, parse_tiers
from hubserve.accounts.store import AccountStore
from hubserve.accounts.usage import UsageRecorder
from hubserve.config import Settings
from hubserve.gateway.access import AccessControl
from hubserve.gateway.accounts.routes import router as accounts_router
from hubserve.gateway.admin.routes import router as admin_router
from hubserve.gateway.errors import install_error_handlers
from hubserve.gateway.front import Gateway
from hubserve.gateway.hf.routes import router as hf_router
from hubserve.gateway.hubapi.routes import router as hubapi_router
from hubserve.gateway.openai.routes import router as openai_router
from hubserve.gateway.state import Services
from hubserve.gateway.tgi.routes import router as tgi_router
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.scheduler.batcher import EncodeBatcher
from hubserve.scheduler.cache import ResponseCache
from hubserve.scheduler.factory import process_scheduler


def create_app(settings: Settings, *, settle_heap: bool = False) -> FastAPI:
    """The hubserve ASGI app; runners start in the lifespan, models load on first use.

    ``settle_heap``: the app is this process's server, so once started it may tune the process's
    garbage collector (``hubserve.heap``); an app embedded in another program leaves it alone.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url or default_url(settings.home))
        await asyncio.to_thread(migrate, engine)
        accounts = AccountStore(engine)
        store = HubStore(settings.hub_dir)
        access = AccessControl(
            accounts,
            store,
            make_rate_limiter(settings.redis_url),
            parse_tiers(settings.rate_limit_tiers),
            allow_anonymous=settings.allow_anonymous,
            cache_s=settings.auth_cache_s,
        )
        usage = UsageRecorder(engine)
        await usage.start()
        access.start()
        scheduler = process_scheduler(settings, store)
        scheduler.start()
        batcher = EncodeBatcher(
            wait_s=settings.batch_wait_ms / 1000,
            max_tokens=settings.batch_max_tokens,
            max_inputs=settings.max_batch_inputs,
        )
        app.state.services = Services(
            settings,
            store,
            scheduler,
            ResponseCache(settings.cache_entries),
            batcher,
            accounts,
            access,
            usage,
        )
        for model in filter(None, (m.strip() for m in settings.pinned_models.split(","))):
            await scheduler.load(ModelId.parse(model), pin=True, wait=False)
        if settle_heap:
            heap.settle(collect=True)
        try:
            yield
        finally:
            await scheduler.close()
            await access.close()
            await usage.close()
            engine.dispose()

    app = Gateway(
        max_body_bytes=settings.max_body_bytes, title="hubserve", version=__version__, lifespan=lifespan
    )
    install_error_handlers(app)
    app.include_router(hf_router)  # the gateway's front serves their POSTs (hf.lane)
    app.include_router(admin_router)
    app.include_router(hubapi_router)
    app.include_router(accounts_router)
    app.include_router(openai_router)
    app.include_router(tgi_router)
    return app
