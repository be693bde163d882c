"""Scheduler: owns which models are resident; starts, unloads and evicts them within a memory budget.

A model's life: absent → LOADING (one shared start for all first requests) → READY → stopped after its
keep-alive (idle time), when evicted for another model (idle, least recently used first), on unload,
or when its process dies. Clock, starter and memory probe are injected so the policy is testable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from hubserve.errors import (
    HubserveError,
    ModelLoadFailed,
    ModelLoading,
    ModelTooLarge,
    NoCapacity,
    Overloaded,
)
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.policy import Resident, estimate_memory, pick_victims
from hubserve.scheduler.runner import Runner, Starter

log = logging.getLogger(__name__)
Clock = Callable[[], float]
GATEWAY_OVERHEAD_S = 0.02  # handing the runner the model and measuring it (measured: 10-25 ms)


@dataclass
class Limits:
    """Knobs of the scheduler, in the units their names say."""

    memory_budget_bytes: int
    keep_alive_s: float = 300.0
    max_concurrency: int = 64
    max_queue: int = 256
    reap_every_s: float = 1.0


@dataclass
class Slot:
    """One model's residency."""

    model: str
    size_bytes: int
    need_bytes: int
    keep_alive_s: float
    pinned: bool = False
    runner: Runner | None = None
    error: HubserveError | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = 0.0
    last_used: float = 0.0
    active: int = 0
    queued: int = 0
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(64))
    expected_s: float = 0.0
    load_task: asyncio.Task[None] | None = None
    watch_task: asyncio.Task[None] | None = None
    stopping: bool = False

    @property
    def busy(self) -> bool:
        return self.active > 0 or self.queued > 0 or not self.ready.is_set()


class Scheduler:
    """The single owner of residency state."""

    def __init__(
        self,
        store: HubStore,
        limits: Limits,
        starter: Starter,
        *,
        history: LoadHistory | None = None,
        clock: Clock = time.monotonic,
        startup_estimate: Callable[[], float] = lambda: 0.0,
        on_start: Callable[[], None] = lambda: None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self.limits = limits
        self._starter = starter
        self._history = history or LoadHistory(None)
        self._clock = clock
        self._startup_estimate = startup_estimate
        self._on_start = on_start
        self._on_close = on_close
        self._slots: dict[str, Slot] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Begin idle reaping (call inside the running loop)."""
        self._on_start()
        self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        """Stop reaping and every runner."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for model in list(self._slots):
            await self._stop(model)
        if self._on_close is not None:
            await self._on_close()

    # ---- public API -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lease(
        self, model_id: ModelId, *, hold_s: float = 0.0, keep_alive_s: float | None = None
    ) -> AsyncIterator[Runner]:
        """The model's runner for one request; starts the model if needed.

        Not ready and ``hold_s`` is 0: ModelLoading (503 with an estimate). Otherwise wait up to ``hold_s``.
        """
        slot = await self._ensure_started(str(model_id))
        if keep_alive_s is not None:
            slot.keep_alive_s = keep_alive_s
        slot.queued += 1
        try:
            await self._wait_ready(slot, hold_s)
            if slot.gate.locked() and slot.queued > self.limits.max_queue:
                raise Overloaded(
                    f"Model {slot.model} is overloaded: too many requests are waiting", retry_after_s=1.0
                )
            await slot.gate.acquire()
        finally:
            slot.queued -= 1
        slot.active += 1
        try:
            assert slot.runner is not None
            yield slot.runner
        finally:
            slot.active -= 1
            slot.gate.release()
            slot.last_used = self._clock()
            if slot.active == 0 and slot.keep_alive_s == 0 and not slot.pinned:
                task = asyncio.create_task(self._stop_if_idle(slot.model))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def load(self, model_id: ModelId, *, pin: bool = False, wait: bool = True) -> dict[str, Any]:
        """Start a model ahead of traffic (optionally pinned: never evicted, never idle-unloaded)."""
        slot = await self._ensure_started(str(model_id))
        slot.pinned = slot.pinned or pin
        if wait:
            await self._wait_ready(slot, float("inf"))
        return self._describe(slot)

    async def unload(self, model_id: ModelId) -> bool:
        """Stop a model now if idle, else as soon as its last request ends; False if it was not resident."""
        slot = self._slots.get(str(model_id))
        if slot is None:
            return False
        slot.pinned = False
        slot.keep_alive_s = 0
        if slot.active == 0 and slot.queued == 0:
            await self._stop(slot.model)
        return True

    def estimated_time(self, model: str) -> float:
        """Seconds until ``model`` is ready: its learned load time plus any process start, less time spent."""
        slot = self._slots.get(model)
        if slot is not None and slot.ready.is_set():
            return 0.0
        if slot is None:
            return self._expected_s(model, self._store.get(ModelId.parse(model)).size_bytes)
        return max(0.05, slot.expected_s - (self._clock() - slot.started_at))

    def _expected_s(self, model: str, size_bytes: int) -> float:
        return self._history.estimate(model, size_bytes) + self._startup_estimate() + GATEWAY_OVERHEAD_S

    @property
    def startup_s(self) -> float:
        """Seconds a start would spend before loading weights now (0 while a spare runner is ready)."""
        return self._startup_estimate()

    def ps(self) -> list[dict[str, Any]]:
        """Every resident or starting model."""
        return [self._describe(slot) for slot in self._slots.values()]

    # ---- residency ---------------------------------------------------------------------------------------

    async def _ensure_started(self, model: str) -> Slot:
        async with self._lock:
            slot = self._slots.get(model)
            if slot is not None and slot.error is None and not slot.stopping:
                return slot
            manifest = self._store.get(ModelId.parse(model))
            need = estimate_memory(manifest.size_bytes)
            if need > self.limits.memory_budget_bytes:
                raise ModelTooLarge(
                    f"Model {model} needs about {need >> 20} MiB; the whole memory budget is "
                    f"{self.limits.memory_budget_bytes >> 20} MiB (HUBSERVE_MEMORY_BUDGET_BYTES)"
                )
            victims = pick_victims(self._residents(), need, self.limits.memory_budget_bytes)
            if victims is None:
                raise NoCapacity(
                    f"No memory free for {model}: every loaded model is busy or pinned; retry soon"
                )
            for victim in victims:
                log.info("evicting %s to make room for %s", victim, model)
                await self._stop(victim)
            slot = Slot(
                model=model,
                size_bytes=manifest.size_bytes,
                need_bytes=need,
                keep_alive_s=self.limits.keep_alive_s,
                started_at=self._clock(),
                last_used=self._clock(),
                gate=asyncio.Semaphore(self.limits.max_concurrency),
                expected_s=self._expected_s(model, manifest.size_bytes),
            )
            self._slots[model] = slot
            slot.load_task = asyncio.create_task(self._load(slot))
            return slot

    async def _load(self, slot: Slot) -> None:
        started = self._clock()
        try:
            runner = await self._starter(slot.model)
        except HubserveError as exc:
            slot.error = exc
        except Exception as exc:  # any start failure must reach the waiting requests as a clear error
            log.exception("could not start %s", slot.model)
            slot.error = ModelLoadFailed(f"Could not start {slot.model}: {type(exc).__name__}: {exc}")
        else:
            slot.runner = runner
            self._history.record(slot.model, runner.load_s)
            with contextlib.suppress(Exception):
                slot.need_bytes = max(await runner.memory_bytes(), 1)
            slot.watch_task = asyncio.create_task(self._watch(slot, runner))
            log.info("%s ready in %.2fs", slot.model, self._clock() - started)
        finally:
            slot.ready.set()
            if slot.error is not None:
                self._slots.pop(slot.model, None)

    async def _wait_ready(self, slot: Slot, hold_s: float) -> None:
        if not slot.ready.is_set():
            if hold_s <= 0:
                raise ModelLoading(slot.model, self.estimated_time(slot.model))
            try:
                await asyncio.wait_for(slot.ready.wait(), None if hold_s == float("inf") else hold_s)
            except TimeoutError:
                raise ModelLoading(slot.model, self.estimated_time(slot.model)) from None
        if slot.error is not None:
            raise slot.error

    async def _watch(self, slot: Slot, runner: Runner) -> None:
        code = await runner.stopped()
        if not slot.stopping:
            log.error("runner of %s exited with code %s; the next request starts it again", slot.model, code)
            if self._slots.get(slot.model) is slot:
                self._slots.pop(slot.model)

    async def _stop_if_idle(self, model: str) -> None:
        slot = self._slots.get(model)
        if slot is not None and slot.active == 0 and slot.queued == 0 and not slot.pinned:
            await self._stop(model)

    async def _stop(self, model: str) -> None:
        slot = self._slots.pop(model, None)
        if slot is None:
            return
        slot.stopping = True
        if slot.load_task is not None and not slot.load_task.done():
            await asyncio.wait([slot.load_task])
        if slot.runner is not None:
            log.info("unloading %s", model)
            await slot.runner.stop()
        if slot.watch_task is not None:
            slot.watch_task.cancel()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.reap_every_s)
            await self.reap()

    async def reap(self) -> list[str]:
        """Stop every model idle past its keep-alive; the models stopped."""
        now = self._clock()
        expired = [
            s.model
            for s in list(self._slots.values())
            if s.ready.is_set()
            and not s.busy
            and not s.pinned
            and s.keep_alive_s >= 0
            and now - s.last_used >= s.keep_alive_s
        ]
        for model in expired:
            await self._stop(model)
        return expired

    def _residents(self) -> list[Resident]:
        return [
            Resident(model=s.model, bytes=s.need_bytes, busy=s.busy, pinned=s.pinned, last_used=s.last_used)
            for s in self._slots.values()
        ]

    def _describe(self, slot: Slot) -> dict[str, Any]:
        now = self._clock()
        return {
            "model": slot.model,
            "pid": getattr(slot.runner, "pid", None),
            "state": "ready" if slot.ready.is_set() and slot.runner else "loading",
            "memory_bytes": slot.need_bytes,
            "idle_s": round(now - slot.last_used, 3) if slot.active == 0 else 0.0,
            "active": slot.active,
            "queued": slot.queued,
            "pinned": slot.pinned,
            "keep_alive_s": slot.keep_alive_s,
            "load_s": round(slot.runner.load_s, 3) if slot.runner else None,
            "estimated_time": None if slot.ready.is_set() else round(self.estimated_time(slot.model), 2),
        }
