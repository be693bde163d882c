"""Build the server's scheduler on the runner backend its settings name (a registry, not a branch)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hubserve.config import Settings
from hubserve.errors import UnknownOption
from hubserve.hub.store import HubStore
from hubserve.protocol import RunnerConfig
from hubserve.runners.parent.client import Deadlines
from hubserve.runners.parent.pool import SparePool
from hubserve.scheduler.batcher import EncodeBatcher
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.restarts import RestartPolicy
from hubserve.scheduler.runner import Starter
from hubserve.scheduler.scheduler import Limits, Scheduler


@dataclass(frozen=True)
class RunnerBackend:
    """How runners start: the starter, what a start costs before weights load, and the hooks around it."""

    start: Starter
    startup_estimate_s: Callable[[], float]
    on_start: Callable[[], None]
    on_close: Callable[[], Awaitable[None]]


def runner_config(settings: Settings) -> RunnerConfig:
    """The settings a runner process needs, handed down to it when it starts."""
    return RunnerConfig(
        hub_dir=settings.hub_dir,
        threads=settings.threads,
        encoder_split=settings.encoder_split,
        runtime=settings.runtime,
        gen_slots=settings.gen_slots,
        gen_context_tokens=settings.gen_context_tokens,
        gguf_engine=settings.gguf_engine,
        max_audio_s=settings.max_audio_s,
        max_image_pixels=settings.max_image_pixels,
        max_image_steps=settings.max_image_steps,
        log_level=settings.log_level,
    )


def local_processes(settings: Settings) -> RunnerBackend:
    """Runners as child processes on Unix sockets, with spares started ahead of need."""
    # Unix socket paths are limited to ~100 bytes: keep them short, under the system temp folder.
    sockets = Path(tempfile.mkdtemp(prefix="hubserve-"))
    deadlines = Deadlines(
        load_s=settings.runner_load_timeout_s,
        call_s=settings.runner_call_timeout_s,
        health_s=settings.health_check_timeout_s,
    )
    spares = SparePool(sockets, settings.spare_runners, runner_config(settings), deadlines)

    async def cleanup() -> None:
        await spares.close()
        shutil.rmtree(sockets, ignore_errors=True)

    return RunnerBackend(spares.start, spares.startup_estimate_s, spares.fill, cleanup)


RUNNER_BACKENDS: dict[str, Callable[[Settings], RunnerBackend]] = {"local": local_processes}


def build_scheduler(settings: Settings, store: HubStore) -> Scheduler:
    """The scheduler on the runner backend ``settings.runner_backend`` names; ``start()`` it in the loop."""
    make = RUNNER_BACKENDS.get(settings.runner_backend)
    if make is None:
        raise UnknownOption(
            f"Runner backend {settings.runner_backend!r} is not one of: {', '.join(sorted(RUNNER_BACKENDS))}"
        )
    backend = make(settings)
    limits = Limits(
        memory_budget_bytes=settings.memory_budget_bytes,
        keep_alive_s=settings.keep_alive_s,
        max_concurrency=settings.model_concurrency,
        max_queue=settings.model_queue,
        health_every_s=settings.health_check_every_s,
        restarts=RestartPolicy(
            backoff_s=settings.restart_backoff_s,
            max_crashes=settings.max_crashes,
            failed_retry_s=settings.failed_retry_s,
        ),
    )
    return Scheduler(
        store,
        limits,
        backend.start,
        batcher=EncodeBatcher(
            wait_s=settings.batch_wait_ms / 1000,
            max_tokens=settings.batch_max_tokens,
            max_inputs=settings.max_batch_inputs,
        ),
        history=LoadHistory(settings.home / "load_history.json"),
        startup_estimate=backend.startup_estimate_s,
        on_start=backend.on_start,
        on_close=backend.on_close,
    )
