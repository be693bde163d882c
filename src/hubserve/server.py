"""create_app: the server's composition root; it builds the hub, the accounts, the scheduler and the gateway.

This is the one module below the CLI that may import every layer: each of them gets what it needs handed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hubserve import heap
from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.endpoints import EndpointStore
from hubserve.accounts.ratelimit import make_rate_limiter, parse_tiers
from hubserve.accounts.store import AccountStore
from hubserve.accounts.usage import UsageRecorder
from hubserve.config import Settings
from hubserve.gateway.access import AccessControl
from hubserve.gateway.app import build_gateway
from hubserve.gateway.drain import Drain
from hubserve.gateway.endpoint_controller import EndpointController
from hubserve.gateway.files import ShortLivedFiles
from hubserve.gateway.state import Services
from hubserve.hub.store import HubStore
from hubserve.scheduler.cache import ResponseCache
from hubserve.scheduler.factory import build_scheduler
from hubserve.types.names import ModelId


def create_app(settings: Settings, *, settle_heap: bool = False) -> FastAPI:
    """The hubserve ASGI app; runners start in the lifespan, models load on first use.

    ``settle_heap``: the app is this process's server, so once started it may tune the process's
    garbage collector (``hubserve.heap``); an app embedded in another program leaves it alone.

    The server that runs it calls ``app.state.drain.begin()`` when it starts to shut down.
    """
    drain = Drain(settings.shutdown_grace_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url or default_url(settings.home), timeout_s=settings.database_timeout_s
        )
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
        scheduler = build_scheduler(settings, store)
        scheduler.start()
        drain.on_begin(scheduler.cancel_loads)
        endpoints = EndpointController(
            EndpointStore(engine),
            scheduler,
            scale_up_after_s=settings.endpoint_scale_up_after_s,
            scale_down_after_s=settings.endpoint_scale_down_after_s,
        )
        app.state.services = Services(
            settings,
            store,
            scheduler,
            ResponseCache(settings.cache_entries),
            accounts,
            access,
            usage,
            drain,
            endpoints,
            ShortLivedFiles(settings.file_ttl_s, settings.file_store_bytes),
        )
        await endpoints.start()
        for model in filter(None, (m.strip() for m in settings.pinned_models.split(","))):
            await scheduler.load(ModelId.parse(model), pin=True, wait=False)
        if settle_heap:
            heap.settle(collect=True)
        try:
            yield
        finally:
            await endpoints.close()
            await scheduler.close()
            await access.close()
            await usage.close()
            engine.dispose()

    app = build_gateway(settings, lifespan, drain)
    app.state.drain = drain
    return app
