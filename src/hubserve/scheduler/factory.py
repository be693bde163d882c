"""Build the scheduler the server uses: runners are local processes, with spares started ahead of need."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hubserve.config import Settings
from hubserve.hub.store import HubStore
from hubserve.runners.pool import SparePool
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.scheduler import Limits, Scheduler


def process_scheduler(settings: Settings, store: HubStore) -> Scheduler:
    """A scheduler whose runners are child processes on Unix sockets; call ``start()`` in the event loop."""
    # Unix socket paths are limited to ~100 bytes: keep them short, under the system temp folder.
    sockets = Path(tempfile.mkdtemp(prefix="hubserve-"))
    spares = SparePool(sockets, settings.spare_runners, env=settings.as_env())
    limits = Limits(
        memory_budget_bytes=settings.memory_budget_bytes,
        keep_alive_s=settings.keep_alive_s,
        max_concurrency=settings.model_concurrency,
        max_queue=settings.model_queue,
    )

    async def cleanup() -> None:
        await spares.close()
        shutil.rmtree(sockets, ignore_errors=True)

    return Scheduler(
        store,
        limits,
        spares.start,
        history=LoadHistory(settings.home / "load_history.json"),
        startup_estimate=spares.startup_estimate_s,
        on_start=spares.fill,
        on_close=cleanup,
    )
