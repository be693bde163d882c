"""Scheduler: owns which models are resident; starts, unloads and evicts them within a memory budget.

A model's life: absent → LOADING (one shared start for all first requests) → READY → stopped after its
keep-alive (idle time), when evicted for another model (idle, least recently used first), on unload,
or when its process dies. Clock, starter and memory probe are injected so the policy is testable.

A resident model (``Residency``: pin, keep-alive, memory, queue) is served by its replicas (``Replica``:
a runner, its gate, its active count). A serverless model has one replica, keyed by its id. A deployment
(an Inference Endpoint's runners) is keyed by its own name: pinned, with as many replicas as it is told,
each request going to the replica with the fewest running. A lease hands one request one replica, and
encoder calls made through the lease are batched with others on that replica only.

Supervision: each replica is health-checked; one that stops answering is killed. A runner that exits
unasked is started again after a backoff (``RestartPolicy``), and after repeated crashes the model is
marked failed (503 ``model_failed``, with the reason in ``ps()``) until a later request tries it again.
A call that never reached its runner (it was already gone) waits for the restart and is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hubserve.errors import (
    EndpointCapacity,
    EndpointUnavailable,
    HubserveError,
    ModelFailed,
    ModelLoadFailed,
    ModelLoading,
    ModelTooLarge,
    NoCapacity,
    Overloaded,
    RunnerCrashed,
    ShuttingDown,
)
from hubserve.hub.store import HubStore
from hubserve.protocol import (
    OUT_OF_MEMORY_EXIT,
    EncodeCall,
    GenerateCall,
    Generation,
    GenerationInfo,
    RunnerOptions,
)
from hubserve.scheduler.batcher import EncodeBatcher
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.policy import Resident, estimate_memory, pick_victims
from hubserve.scheduler.restarts import RestartPolicy
from hubserve.scheduler.runner import Runner, Starter
from hubserve.types.names import ModelId

log = logging.getLogger(__name__)
Clock = Callable[[], float]
T = TypeVar("T")
GATEWAY_OVERHEAD_S = 0.02  # handing the runner the model and measuring it (measured: 10-25 ms)


@dataclass
class Limits:
    """Knobs of the scheduler, in the units their names say."""

    memory_budget_bytes: int
    keep_alive_s: float = 300.0
    max_concurrency: int = 64
    max_queue: int = 256
    reap_every_s: float = 1.0
    health_every_s: float = 5.0  # 0: no health checks
    health_failures: int = 2  # checks missed in a row that get a runner killed
    restarts: RestartPolicy = field(default_factory=RestartPolicy)


@dataclass
class Replica:
    """One runner serving a model; its gate bounds the requests it runs at once."""

    runner: Runner
    gate: asyncio.Semaphore
    active: int = 0
    served: int = 0  # leases it was handed
    watch_task: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    retiring: bool = False  # scaled away: it takes no new request, and its exit is no crash


@dataclass
class Residency:
    """One model's residency: pin, keep-alive, memory and queue, and the replicas that serve it."""

    model: str
    size_bytes: int
    need_bytes: int
    keep_alive_s: float
    max_concurrency: int = 64
    pinned: bool = False
    key: str = ""  # its key in the scheduler: the model id, or a deployment's name
    deployment: bool = False
    options: RunnerOptions | None = None  # a deployment's env and threads for each of its runners
    target: int = 1  # replicas it should have (a deployment's; 0 once scaled to zero)
    extra_loads: set[asyncio.Task[None]] = field(default_factory=set)
    replicas: list[Replica] = field(default_factory=list)
    error: HubserveError | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = 0.0
    last_used: float = 0.0
    queued: int = 0
    expected_s: float = 0.0
    load_task: asyncio.Task[None] | None = None
    stopping: bool = False
    crashes: list[float] = field(default_factory=list)
    last_crash: str = ""
    retry_at: float = 0.0

    def __post_init__(self) -> None:
        self.key = self.key or self.model

    @property
    def starting(self) -> int:
        """Replicas being started now."""
        first = self.load_task is not None and not self.load_task.done()
        return int(first) + sum(1 for t in self.extra_loads if not t.done())

    @property
    def replica_slots(self) -> int:
        """Runners it holds or is starting: what its memory is counted for."""
        return len(self.replicas) + self.starting

    @property
    def active(self) -> int:
        """Requests its replicas run now."""
        return sum(r.active for r in self.replicas)

    @property
    def busy(self) -> bool:
        return self.active > 0 or self.queued > 0 or not self.ready.is_set()

    @property
    def failed(self) -> bool:
        """Marked failed after repeated crashes; it holds no runner until it is tried again."""
        return isinstance(self.error, ModelFailed)

    @property
    def saturated(self) -> bool:
        """Whether every replica runs as many requests as its gate lets in."""
        return all(r.gate.locked() for r in self.replicas)

    def pick(self) -> Replica:
        """The replica a new request goes to: the one with the fewest requests running."""
        return min(self.replicas, key=lambda r: r.active)


class Lease:
    """One request's hold on one replica; encoder calls through it batch with others on that replica.

    A call that could not reach its runner (gone since the lease was taken) moves, once, to the replica
    that replaces it, waiting for the restart as long as the request may hold.
    """

    def __init__(
        self, scheduler: Scheduler, res: Residency, replica: Replica, batcher: EncodeBatcher, hold_s: float
    ) -> None:
        self.model = res.model
        self.replica = replica
        self._scheduler = scheduler
        self._res = res
        self._batcher = batcher
        self._hold_s = hold_s

    @property
    def generation(self) -> GenerationInfo | None:
        """The model's generation info (None for an encoder)."""
        return self.replica.runner.generation

    async def encode(self, call: EncodeCall, *, batch_key: str | None = None) -> Any:
        """Run a prepared encoder call; ``batch_key`` (model@revision) groups calls that may share a batch."""
        return await self._on_runner(lambda runner: self._batcher.run(runner, batch_key or self.model, call))

    async def generate(self, call: GenerateCall) -> Generation:
        """Start one generation on this replica."""
        return await self._on_runner(lambda runner: runner.generate(call))

    async def stream(self, call: EncodeCall) -> AsyncGenerator[dict[str, Any], None]:
        """Start a pipeline call answered in pieces on this replica."""
        return await self._on_runner(lambda runner: runner.stream(call))

    async def _on_runner(self, work: Callable[[Runner], Awaitable[T]]) -> T:
        """Run ``work`` on the replica's runner; once more on its replacement if the call never reached it."""
        try:
            return await work(self.replica.runner)
        except RunnerCrashed as exc:
            if not exc.unsent:
                raise
            self.replica = await self._scheduler._replace(self._res, self.replica, self._hold_s, exc)
        return await work(self.replica.runner)


def exit_reason(code: int) -> str:
    """Why a runner ended, from its exit code."""
    if code == OUT_OF_MEMORY_EXIT:
        return "ran out of memory"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Scheduler:
    """The single owner of residency state."""

    def __init__(
        self,
        store: HubStore,
        limits: Limits,
        starter: Starter,
        *,
        batcher: EncodeBatcher | None = None,
        history: LoadHistory | None = None,
        clock: Clock = time.monotonic,
        startup_estimate: Callable[[], float] = lambda: 0.0,
        on_start: Callable[[], None] = lambda: None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self.limits = limits
        self._starter = starter
        self.batcher = batcher or EncodeBatcher(wait_s=0.0, max_tokens=8192)
        self._history = history or LoadHistory(None)
        self._clock = clock
        self._startup_estimate = startup_estimate
        self._on_start = on_start
        self._on_close = on_close
        self._models: dict[str, Residency] = {}
        self._routes: dict[str, str] = {}  # an endpoint's name -> the key of the deployment serving it
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
        # Shutting down: a load under way is cancelled rather than waited for (a model's load can take
        # minutes), and every model stops at once, so a SIGTERM is over in one runner's grace period.
        self.cancel_loads()
        await asyncio.gather(*(self._stop(model) for model in list(self._models)))
        if self._on_close is not None:
            await self._on_close()

    def cancel_loads(self) -> None:
        """Cancel every load under way (a shutdown has begun); requests waiting for one get ShuttingDown."""
        for res in self._models.values():
            for extra in res.extra_loads:
                extra.cancel()
            if res.load_task is not None and not res.load_task.done():
                res.load_task.cancel()

    # ---- public API -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lease(
        self,
        model_id: ModelId,
        *,
        hold_s: float = 0.0,
        keep_alive_s: float | None = None,
        deployment: str | None = None,
    ) -> AsyncIterator[Lease]:
        """One replica of the model for one request; starts the model if needed.

        ``deployment``: the route name of an endpoint (see ``route``), whose replicas serve the call
        instead; one scaled to zero starts a replica for it.
        Not ready and ``hold_s`` is 0: ModelLoading (503 with an estimate). Otherwise wait up to ``hold_s``.
        Past the model's queue limit (every replica busy and ``max_queue`` waiting): Overloaded, 429.
        """
        if deployment is None:
            res = await self._ensure_started(str(model_id))
        else:
            res = await self._deployed(deployment)
        if keep_alive_s is not None:
            res.keep_alive_s = keep_alive_s
        res.queued += 1
        try:
            await self._wait_ready(res, hold_s)
            if res.saturated and res.queued > self.limits.max_queue:
                raise Overloaded(
                    f"Model {res.model} is overloaded: too many requests are waiting", retry_after_s=1.0
                )
            replica = res.pick()
            await replica.gate.acquire()
        finally:
            res.queued -= 1
        replica.active += 1
        replica.served += 1
        lease = Lease(self, res, replica, self.batcher, hold_s)
        try:
            yield lease
        finally:
            lease.replica.active -= 1
            lease.replica.gate.release()
            res.last_used = self._clock()
            if res.active == 0 and res.keep_alive_s == 0 and not res.pinned:
                task = asyncio.create_task(self._stop_if_idle(res.key))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def load(self, model_id: ModelId, *, pin: bool = False, wait: bool = True) -> dict[str, Any]:
        """Start a model ahead of traffic (optionally pinned: never evicted, never idle-unloaded)."""
        res = await self._ensure_started(str(model_id))
        res.pinned = res.pinned or pin
        if wait:
            await self._wait_ready(res, float("inf"))
        return self._describe(res)

    async def unload(self, model_id: ModelId) -> bool:
        """Stop a model now if idle, else as soon as its last request ends; False if it was not resident."""
        res = self._models.get(str(model_id))
        if res is None:
            return False
        res.pinned = False
        res.keep_alive_s = 0
        if res.active == 0 and res.queued == 0:
            await self._stop(res.key)
        return True

    # ---- deployments (an endpoint's pinned replicas) ---------------------------------------------------

    async def deploy(
        self, key: str, model_id: ModelId, *, replicas: int, options: RunnerOptions | None = None
    ) -> None:
        """Start ``replicas`` pinned runners of a model under ``key``, with ``options``, without waiting.

        Its memory must fit beside the other deployments and pinned models: EndpointCapacity if not. Idle
        serverless models are evicted to make room; never another deployment.
        """
        async with self._lock:
            manifest = self._store.get(model_id)
            need = estimate_memory(manifest.size_bytes)
            await self._make_room(key, need, max(replicas, 1))
            res = Residency(
                model=str(model_id),
                key=key,
                deployment=True,
                options=options,
                pinned=True,
                target=replicas,
                size_bytes=manifest.size_bytes,
                need_bytes=need,
                keep_alive_s=-1,
                max_concurrency=self.limits.max_concurrency,
                started_at=self._clock(),
                last_used=self._clock(),
                expected_s=self._expected_s(str(model_id), manifest.size_bytes),
            )
            self._models[key] = res
            for _ in range(replicas):
                self._spawn(res)

    async def scale(self, key: str, replicas: int) -> None:
        """Give a deployment ``replicas`` runners: start the missing ones, retire the extra ones.

        A retired replica takes no new request and stops once those it runs have ended.
        """
        res = self._models.get(key)
        if res is None or not res.deployment:
            return
        have = res.replica_slots
        if replicas > have:
            async with self._lock:
                await self._make_room(key, res.need_bytes, replicas - have)
            if not res.replicas:
                res.ready.clear()
                res.error = None
                res.started_at = self._clock()
            res.target = replicas
            for _ in range(replicas - have):
                self._spawn(res)
            return
        res.target = replicas
        excess = have - replicas
        for task in list(res.extra_loads):
            if excess and not task.done():
                task.cancel()
                excess -= 1
        for replica in sorted(res.replicas, key=lambda r: r.active)[:excess]:
            self._retire_replica(res, replica)
        if not res.replicas and res.target == 0:
            res.ready.clear()

    async def retire(self, key: str, *, drain_s: float = 60.0) -> None:
        """Stop a deployment once the requests it runs or queues have ended (at most ``drain_s``)."""
        res = self._models.get(key)
        if res is None:
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + drain_s
        while (res.active or res.queued) and loop.time() < end:
            await asyncio.sleep(0.05)
        await self._stop(key)

    def route(self, name: str, key: str | None) -> None:
        """Send leases for ``name`` to the deployment ``key`` from now on (None: to none)."""
        if key is None:
            self._routes.pop(name, None)
        else:
            self._routes[name] = key

    def deployment(self, key: str) -> dict[str, Any] | None:
        """A deployment's replicas: ready, starting and wanted, its error, its runners; None if absent."""
        res = self._models.get(key)
        if res is None:
            return None
        return {
            "ready": len(res.replicas),
            "starting": res.starting,
            "target": res.target,
            "error": res.error.message if res.error is not None else None,
            "last_crash": res.last_crash or None,
            "idle_s": self._clock() - res.last_used if res.active == 0 and res.queued == 0 else 0.0,
            "pending": res.active + res.queued,
        }

    async def _deployed(self, name: str) -> Residency:
        key = self._routes.get(name)
        res = self._models.get(key) if key is not None else None
        if res is None:
            raise EndpointUnavailable(f"Endpoint {name} has no runners: it is paused or being deleted")
        if res.target == 0 and res.error is None:  # scaled to zero: the first request wakes it
            await self.scale(res.key, 1)
        return res

    async def _make_room(self, key: str, need_each: int, count: int) -> None:
        """Free memory for ``count`` more runners of ``need_each`` bytes; call with the lock held."""
        need = need_each * count
        residents = self._residents()
        held = sum(r.bytes for r in residents if r.pinned)
        budget = self.limits.memory_budget_bytes
        if held + need > budget:
            raise EndpointCapacity(
                f"{key} needs about {need >> 20} MiB for {count} runner(s) of {need_each >> 20} MiB; "
                f"{held >> 20} MiB of the {budget >> 20} MiB memory budget (HUBSERVE_MEMORY_BUDGET_BYTES) "
                f"are held by endpoints and pinned models, so {max(0, budget - held) >> 20} MiB are free"
            )
        await self._evict_for(key, need, residents, "the serverless models in the way are busy")

    async def _evict_for(self, key: str, need: int, residents: list[Resident], busy: str) -> None:
        """Stop idle, unpinned models, least recently used first, so ``need`` bytes fit; NoCapacity if not."""
        victims = pick_victims(residents, need, self.limits.memory_budget_bytes)
        if victims is None:
            raise NoCapacity(f"No memory free for {key}: {busy}; retry soon")
        for victim in victims:
            log.info("evicting %s to make room for %s", victim, key)
            await self._stop(victim)

    def _spawn(self, res: Residency, delay_s: float = 0.0) -> None:
        """Start one more replica of a deployment."""
        if res.load_task is None or res.load_task.done():
            res.load_task = asyncio.create_task(self._load(res, delay_s))
            return
        task = asyncio.create_task(self._load(res, delay_s, extra=True))
        res.extra_loads.add(task)
        task.add_done_callback(res.extra_loads.discard)

    def _retire_replica(self, res: Residency, replica: Replica) -> None:
        if replica in res.replicas:
            res.replicas.remove(replica)
        replica.retiring = True

        async def drain_then_stop() -> None:
            while replica.active:
                await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                await replica.runner.stop()

        task = asyncio.create_task(drain_then_stop())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def estimated_time(self, model: str) -> float:
        """Seconds until ``model`` is ready: its learned load time plus any process start, less time spent."""
        res = self._models.get(model)
        if res is not None and res.ready.is_set():
            return 0.0
        if res is None:
            return self._expected_s(model, self._store.get(ModelId.parse(model)).size_bytes)
        return self._remaining_s(res)

    def _remaining_s(self, res: Residency) -> float:
        if res.ready.is_set():
            return 0.0
        return max(0.05, res.expected_s - (self._clock() - res.started_at))

    def _expected_s(self, model: str, size_bytes: int) -> float:
        return self._history.estimate(model, size_bytes) + self._startup_estimate() + GATEWAY_OVERHEAD_S

    @property
    def startup_s(self) -> float:
        """Seconds a start would spend before loading weights now (0 while a spare runner is ready)."""
        return self._startup_estimate()

    def ps(self) -> list[dict[str, Any]]:
        """Every resident or starting model."""
        return [self._describe(res) for res in self._models.values()]

    async def progress(self) -> dict[int, dict[str, Any]]:
        """What each busy runner that reports progress (a pipeline: steps of an image) is on, by pid."""
        busy = [
            (pid, r.runner)
            for res in self._models.values()
            for r in res.replicas
            if r.active and (pid := getattr(r.runner, "pid", None)) is not None
        ]
        views = await asyncio.gather(*(runner.progress() for _, runner in busy), return_exceptions=True)
        return {pid: view for (pid, _), view in zip(busy, views, strict=True) if isinstance(view, dict)}

    def loaded(self) -> set[str]:
        """The models whose runners are ready now."""
        return {m for m, res in self._models.items() if res.ready.is_set() and res.replicas}

    # ---- residency ---------------------------------------------------------------------------------------

    async def _replace(self, res: Residency, old: Replica, hold_s: float, error: RunnerCrashed) -> Replica:
        """The replica that takes over from ``old``, whose runner could not be reached; its gate is held."""
        old.runner.kill()  # unreachable is as good as dead: make sure the watch sees it go and restarts it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(old.exited.wait(), 10.0)
        await self._wait_ready(res, hold_s)
        if not res.replicas or old in res.replicas:
            raise error
        new = res.pick()
        await new.gate.acquire()
        new.active += 1
        old.active -= 1
        old.gate.release()
        return new

    async def _ensure_started(self, model: str) -> Residency:
        async with self._lock:
            res = self._models.get(model)
            if res is not None and not res.stopping:
                if res.error is None:
                    return res
                if isinstance(res.error, ModelFailed) and self._clock() < res.retry_at:
                    res.error.retry_after_s = res.retry_at - self._clock()
                    return res
                self._models.pop(model)  # a failure whose wait is over: try it afresh
            manifest = self._store.get(ModelId.parse(model))
            need = estimate_memory(manifest.size_bytes)
            if need > self.limits.memory_budget_bytes:
                raise ModelTooLarge(
                    f"Model {model} needs about {need >> 20} MiB; the whole memory budget is "
                    f"{self.limits.memory_budget_bytes >> 20} MiB (HUBSERVE_MEMORY_BUDGET_BYTES)"
                )
            await self._evict_for(model, need, self._residents(), "every loaded model is busy or pinned")
            res = Residency(
                model=model,
                size_bytes=manifest.size_bytes,
                need_bytes=need,
                keep_alive_s=self.limits.keep_alive_s,
                max_concurrency=self.limits.max_concurrency,
                started_at=self._clock(),
                last_used=self._clock(),
                expected_s=self._expected_s(model, manifest.size_bytes),
            )
            self._models[model] = res
            res.load_task = asyncio.create_task(self._load(res))
            return res

    async def _load(self, res: Residency, delay_s: float = 0.0, *, extra: bool = False) -> None:
        try:
            await asyncio.sleep(delay_s)
            started = self._clock()
            runner = await self._starter(res.model, res.options)
        except asyncio.CancelledError:
            if extra:  # one more replica, no longer wanted
                raise
            res.error = ShuttingDown(f"{res.model} was stopped before it was ready (unloaded, shutting down)")
            res.ready.set()
            self._forget(res)
            raise
        except Exception as exc:  # any start failure must reach the waiting requests as a clear error
            if not isinstance(exc, HubserveError):
                log.exception("could not start %s", res.model)
                exc = ModelLoadFailed(f"Could not start {res.model}: {type(exc).__name__}: {exc}")
            if res.crashes and not res.stopping:  # a restart that failed counts as one more crash
                self._after_crash(res, f"could not start again: {exc.message}")
                return
            if res.deployment:  # kept, so its endpoint can say why; other replicas serve on
                res.last_crash = exc.message
                if not res.replicas:
                    res.error = exc
                    res.ready.set()
                return
            res.error = exc
            res.ready.set()
            self._forget(res)
            return
        replica = Replica(runner, asyncio.Semaphore(res.max_concurrency))
        res.replicas.append(replica)
        if res.deployment:
            res.last_used = self._clock()  # an endpoint's idle time counts from a replica being ready
            if len(res.replicas) > res.target:  # scaled down while it started
                self._retire_replica(res, replica)
                return
        self._history.record(res.model, runner.load_s)
        with contextlib.suppress(Exception):
            res.need_bytes = max(await runner.memory_bytes(), 1)
        replica.watch_task = asyncio.create_task(self._watch(res, replica))
        log.info("%s ready in %.2fs", res.model, self._clock() - started)
        res.ready.set()

    def _forget(self, res: Residency) -> None:
        if self._models.get(res.key) is res:
            self._models.pop(res.key)

    async def _wait_ready(self, res: Residency, hold_s: float) -> None:
        if not res.ready.is_set():
            if hold_s <= 0:
                raise ModelLoading(res.model, self._remaining_s(res))
            try:
                await asyncio.wait_for(res.ready.wait(), None if hold_s == float("inf") else hold_s)
            except TimeoutError:
                raise ModelLoading(res.model, self._remaining_s(res)) from None
        if res.error is not None:
            raise res.error

    async def _watch(self, res: Residency, replica: Replica) -> None:
        """Wait for the runner to exit, health-checking it meanwhile; a runner that exits unasked restarts."""
        exit_code = asyncio.ensure_future(replica.runner.stopped())
        reason = ""
        try:
            misses = 0
            every = self.limits.health_every_s if self.limits.health_every_s > 0 else None
            while not (await asyncio.wait([exit_code], timeout=every))[0]:
                if res.stopping or await replica.runner.healthy():
                    misses = 0
                    continue
                misses += 1
                if misses >= self.limits.health_failures and not reason:
                    reason = f"did not answer {misses} health checks in a row and was killed"
                    log.error("runner of %s %s", res.model, reason)
                    replica.runner.kill()
            code = exit_code.result()
            if replica in res.replicas:
                res.replicas.remove(replica)
            if not res.stopping and not replica.retiring:
                # Before any await: a request let in meanwhile would find the model ready with no replica.
                if self._models.get(res.key) is res:
                    self._after_crash(res, reason or exit_reason(code))
                with contextlib.suppress(Exception):
                    await replica.runner.stop()  # its connections and socket file; the process is gone
        finally:
            exit_code.cancel()
            replica.exited.set()

    def _after_crash(self, res: Residency, reason: str) -> None:
        """Restart the model after its backoff, or mark it failed after too many crashes."""
        now = self._clock()
        res.crashes.append(now)
        res.last_crash = reason
        policy = self.limits.restarts
        delay = policy.delay_s(res.crashes, now)
        if res.deployment and res.replicas:  # the others serve on while a replacement starts
            log.error("a runner of %s %s; starting another in %.1fs", res.key, reason, delay or 0.0)
            self._spawn(res, delay if delay is not None else policy.failed_retry_s)
            return
        if delay is None:
            res.retry_at = now + policy.failed_retry_s
            crashes = policy.recent(res.crashes, now)
            res.error = ModelFailed(
                f"Model {res.model} failed: its runner crashed {crashes} times in {policy.window_s:g}s "
                f"(last: {reason}); it will be tried again in {policy.failed_retry_s:g}s",
                retry_after_s=policy.failed_retry_s,
            )
            log.error("%s marked failed: %s", res.model, reason)
            res.ready.set()
            return
        log.error("runner of %s %s; starting it again in %.1fs", res.model, reason, delay)
        res.ready.clear()
        res.started_at = now
        res.expected_s = delay + self._expected_s(res.model, res.size_bytes)
        res.load_task = asyncio.create_task(self._load(res, delay))

    async def _stop_if_idle(self, model: str) -> None:
        res = self._models.get(model)
        if res is not None and res.active == 0 and res.queued == 0 and not res.pinned:
            await self._stop(model)

    async def _stop(self, model: str) -> None:
        res = self._models.pop(model, None)
        if res is None:
            return
        res.stopping = True
        for extra in res.extra_loads:
            extra.cancel()
        if res.load_task is not None and not res.load_task.done():
            if res.crashes:  # a restart may still be in its backoff: no reason to wait that out
                res.load_task.cancel()
            await asyncio.wait([res.load_task])
        for replica in res.replicas:
            log.info("unloading %s", model)
            await replica.runner.stop()
            if replica.watch_task is not None:
                replica.watch_task.cancel()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.reap_every_s)
            await self.reap()

    async def reap(self) -> list[str]:
        """Stop every model idle past its keep-alive, or removed from the hub; the models stopped.

        A removed model (``hubserve rm`` while it was loaded) stops once its running requests end.
        """
        now = self._clock()
        expired = [
            r.key
            for r in list(self._models.values())
            if r.ready.is_set()
            and not r.deployment
            and not r.busy
            and (
                not self._store.exists(ModelId.parse(r.model))
                or (not r.pinned and r.keep_alive_s >= 0 and now - r.last_used >= r.keep_alive_s)
            )
        ]
        for model in expired:
            await self._stop(model)
        return expired

    def _residents(self) -> list[Resident]:
        return [
            Resident(
                model=r.key,
                bytes=0 if r.failed else r.need_bytes * (r.replica_slots if r.deployment else 1),
                busy=r.busy,
                pinned=r.pinned and not r.failed,
                last_used=r.last_used,
            )
            for r in self._models.values()
        ]

    def _state(self, res: Residency) -> str:
        if res.failed:
            return "failed"
        if res.ready.is_set() and res.replicas:
            return "ready"
        if res.deployment and res.target == 0 and not res.replicas:
            return "scaled_to_zero"
        return "restarting" if res.crashes else "loading"

    def _describe(self, res: Residency) -> dict[str, Any]:
        now = self._clock()
        runner = res.replicas[0].runner if res.replicas else None
        return {
            "model": res.model,
            "endpoint": res.key if res.deployment else None,
            "pid": getattr(runner, "pid", None),
            "runners": [
                {
                    "pid": getattr(r.runner, "pid", None),
                    "active": r.active,
                    "served": r.served,
                    "load_s": round(r.runner.load_s, 3),
                }
                for r in res.replicas
            ],
            "target_replicas": res.target if res.deployment else None,
            "state": self._state(res),
            "memory_bytes": res.need_bytes * (res.replica_slots if res.deployment else 1),
            "idle_s": round(now - res.last_used, 3) if res.active == 0 else 0.0,
            "active": res.active,
            "queued": res.queued,
            "pinned": res.pinned,
            "keep_alive_s": res.keep_alive_s,
            "replicas": len(res.replicas),
            "load_s": round(runner.load_s, 3) if runner else None,
            "estimated_time": None if res.ready.is_set() else round(self._remaining_s(res), 2),
            "restarts": len(res.crashes),
            "error": res.last_crash or None,
            "retry_in_s": round(max(0.0, res.retry_at - now), 1) if res.failed else None,
        }
