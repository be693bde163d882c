"""EndpointController: turns stored endpoint specs into the scheduler's deployments, and says their state.

One control plane with the serverless scheduler: an endpoint is a spec in the accounts database, and
its runners are a deployment of the scheduler (pinned, with its replicas) under a key per generation.
The scheduler routes the endpoint's name to the current generation; a change of model or revision
starts a new generation, switches the route once it is ready, and retires the old one after its
requests end, so none is dropped. The state is read from the scheduler each time it is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubserve.accounts.endpoints import EndpointStore, StoredEndpoint
from hubserve.errors import BadRequest, EndpointNotFound, HubserveError
from hubserve.protocol import RunnerOptions
from hubserve.scheduler.autoscale import Autoscaler
from hubserve.scheduler.scheduler import Scheduler
from hubserve.types.endpoints import EndpointSpec
from hubserve.types.names import ModelId

log = logging.getLogger(__name__)
ROLLOVER_FIELDS = ("repository", "revision", "task", "env", "instance_size", "accelerator")
DEFAULT_PENDING_THRESHOLD = 4.0  # pending requests per replica, when a spec names no measure


@dataclass
class Live:
    """One endpoint as the controller holds it."""

    stored: StoredEndpoint
    generation: int = 0
    key: str | None = None
    failure: str | None = None  # why its runners could not be started
    update_failure: str | None = None
    rollover: asyncio.Task[None] | None = None
    scaler: Autoscaler | None = None

    @property
    def spec(self) -> EndpointSpec:
        return self.stored.spec

    @property
    def route(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"


class EndpointController:
    """Create, change, pause, resume, scale and delete endpoints; each call returns once it is under way."""

    def __init__(
        self,
        store: EndpointStore,
        scheduler: Scheduler,
        *,
        check_every_s: float = 1.0,
        scale_up_after_s: float = 10.0,
        scale_down_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._check_every_s = check_every_s
        self._up_after_s = scale_up_after_s
        self._down_after_s = scale_down_after_s
        self._clock = clock
        self._live: dict[tuple[str, str], Live] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bring back every stored endpoint that is not paused (a gateway restart keeps them)."""
        for stored in await asyncio.to_thread(self._store.list):
            live = self._live[(stored.spec.namespace, stored.spec.name)] = Live(stored)
            if not stored.spec.paused:
                await self._deploy(live)
        self._watcher = asyncio.create_task(self._watch_forever())

    async def close(self) -> None:
        """Stop watching; the scheduler stops the runners."""
        for live in self._live.values():
            if live.rollover is not None:
                live.rollover.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    # ---- reading -----------------------------------------------------------------------------------------

    def find(self, namespace: str, name: str) -> Live | None:
        """The endpoint, or None."""
        return self._live.get((namespace, name))

    def get(self, namespace: str, name: str) -> Live:
        """The endpoint, or EndpointNotFound."""
        live = self._live.get((namespace, name))
        if live is None:
            raise EndpointNotFound(f"Endpoint {name} does not exist in {namespace}")
        return live

    def in_namespace(self, namespace: str) -> list[Live]:
        """The namespace's endpoints, by name."""
        return [live for (ns, _), live in sorted(self._live.items()) if ns == namespace]

    def status(self, live: Live) -> dict[str, Any]:
        """``state``, ``message``, ``readyReplica`` and ``targetReplica``, from the scheduler's view now."""
        view = self._scheduler.deployment(live.key) if live.key is not None else None
        ready = view["ready"] if view else 0
        target = view["target"] if view else 0
        message = None
        if live.spec.paused:
            state = "paused"
        elif live.failure is not None:
            state, message = "failed", live.failure
        elif view is None:
            state = "pending"
        elif view["error"] is not None and ready == 0:
            state, message = "failed", view["error"]
        elif live.rollover is not None and not live.rollover.done():
            state = "updating"
        elif live.update_failure is not None:
            state, message = "updateFailed", live.update_failure
        elif ready > 0:
            state = "running"
        elif target == 0:
            state = "scaledToZero"
        else:
            state = "initializing"
        return {"state": state, "message": message, "readyReplica": ready, "targetReplica": target}

    # ---- changing ----------------------------------------------------------------------------------------

    async def create(self, spec: EndpointSpec, by: str) -> Live:
        """Store a new endpoint and start its runners (if they cannot fit: EndpointCapacity, none stored)."""
        stored = await asyncio.to_thread(self._store.create, spec, by)
        live = self._live[(spec.namespace, spec.name)] = Live(stored)
        try:
            await self._deploy(live, strict=True)
        except HubserveError:
            del self._live[(spec.namespace, spec.name)]
            await asyncio.to_thread(self._store.delete, spec.namespace, spec.name)
            raise
        return live

    async def update(self, live: Live, spec: EndpointSpec, by: str) -> Live:
        """Apply a changed spec: replicas at once; a new model, revision, task or env by a rollover."""
        old = live.spec
        if live.rollover is not None and not live.rollover.done():
            raise BadRequest(
                f"Endpoint {old.name} is still rolling over to its last update; try again when it is running"
            )
        live.stored = await asyncio.to_thread(self._store.replace, spec, by)
        live.update_failure = None
        if spec.paused or live.key is None:
            return live
        if any(getattr(old, f) != getattr(spec, f) for f in ROLLOVER_FIELDS):
            live.rollover = asyncio.create_task(self._roll_over(live))
        else:
            await self._scheduler.scale(live.key, _clamp(self._target(live), spec))
        return live

    async def pause(self, live: Live, by: str) -> Live:
        """Stop its runners; it keeps its URL and answers 503 until resumed."""
        paused = live.spec.model_copy(update={"paused": True})
        live.stored = await asyncio.to_thread(self._store.replace, paused, by)
        await self._undeploy(live)
        return live

    async def resume(self, live: Live, by: str) -> Live:
        """Start a paused (or failed) endpoint's runners again; BadRequest if it is already running."""
        if not live.spec.paused and live.failure is None and live.key is not None:
            view = self._scheduler.deployment(live.key)
            if view is not None and view["error"] is None:
                raise BadRequest(f"Endpoint {live.spec.name} is already running")
        resumed = live.spec.model_copy(update={"paused": False})
        live.stored = await asyncio.to_thread(self._store.replace, resumed, by)
        await self._undeploy(live)
        await self._deploy(live, strict=True)
        return live

    async def scale_to_zero(self, live: Live) -> Live:
        """Stop its replicas now; the next request starts one again."""
        if live.key is not None and not live.spec.paused:
            await self._scheduler.scale(live.key, 0)
        return live

    async def delete(self, live: Live) -> None:
        """Forget the endpoint and stop its runners once their requests end."""
        await asyncio.to_thread(self._store.delete, live.spec.namespace, live.spec.name)
        self._live.pop((live.spec.namespace, live.spec.name), None)
        if live.rollover is not None:
            live.rollover.cancel()
        await self._undeploy(live)

    # ---- runners -----------------------------------------------------------------------------------------

    def _target(self, live: Live) -> int:
        view = self._scheduler.deployment(live.key) if live.key is not None else None
        return view["target"] if view else 0

    async def _deploy(self, live: Live, *, strict: bool = False) -> None:
        live.generation += 1
        key = f"endpoint:{live.route}@{live.generation}"
        spec = live.spec
        try:
            await self._scheduler.deploy(
                key, ModelId.parse(spec.repository), replicas=max(1, spec.min_replica), options=_options(spec)
            )
        except HubserveError as exc:
            if strict:
                raise
            live.failure = exc.message
            log.error("endpoint %s could not start: %s", live.route, exc.message)
            return
        live.key, live.failure = key, None
        self._scheduler.route(live.route, key)

    async def _undeploy(self, live: Live) -> None:
        self._scheduler.route(live.route, None)
        key, live.key = live.key, None
        if key is not None:
            await self._scheduler.retire(key)

    async def _roll_over(self, live: Live) -> None:
        """New runners first; the route moves to them once one is ready; the old ones drain and stop."""
        old = live.key
        live.generation += 1
        key = f"endpoint:{live.route}@{live.generation}"
        spec = live.spec
        replicas = max(1, spec.min_replica, min(self._target(live), spec.max_replica))
        try:
            await self._scheduler.deploy(
                key, ModelId.parse(spec.repository), replicas=replicas, options=_options(spec)
            )
            while True:
                view = self._scheduler.deployment(key)
                if view is None:
                    raise HubserveError("its new runners were stopped")
                if view["error"] is not None:
                    raise HubserveError(view["error"])
                if view["ready"] >= 1:
                    break
                await asyncio.sleep(0.05)
        except HubserveError as exc:
            live.update_failure = f"The update could not start its new runners: {exc.message}"
            log.error("endpoint %s: %s", live.route, live.update_failure)
            await self._scheduler.retire(key, drain_s=0)
            return
        self._scheduler.route(live.route, key)
        live.key = key
        if old is not None:
            await self._scheduler.retire(old)

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self._check_every_s)
            try:
                await self.tick()
            except Exception:  # one bad pass must not end the watch
                log.exception("endpoint watch failed")

    async def tick(self) -> None:
        """One pass: scale to zero what is idle past its ``scaleToZeroTimeout``, autoscale the rest."""
        for live in list(self._live.values()):
            if live.key is None or (live.rollover is not None and not live.rollover.done()):
                continue
            view = self._scheduler.deployment(live.key)
            if view is None or view["target"] == 0:
                continue
            spec = live.spec
            timeout = spec.scale_to_zero_timeout_min
            if timeout is not None and spec.min_replica == 0 and view["idle_s"] >= timeout * 60:
                log.info("endpoint %s idle for %d min: scaling to zero", live.route, timeout)
                await self._scheduler.scale(live.key, 0)
                continue
            wanted = self._scaler(live).decide(view["target"], view["pending"], self._clock())
            if wanted != view["target"]:
                log.info(
                    "endpoint %s: %d -> %d replicas (%d pending)",
                    live.route,
                    view["target"],
                    wanted,
                    view["pending"],
                )
                try:
                    await self._scheduler.scale(live.key, wanted)
                except HubserveError as exc:  # no memory for another replica: it serves on as it is
                    log.warning("endpoint %s cannot grow: %s", live.route, exc.message)

    def _scaler(self, live: Live) -> Autoscaler:
        spec = live.spec
        threshold = spec.scaling_threshold or DEFAULT_PENDING_THRESHOLD
        rule = live.scaler
        if rule is None or (rule.min_replicas, rule.max_replicas, rule.threshold) != (
            spec.min_replica,
            spec.max_replica,
            threshold,
        ):
            rule = live.scaler = Autoscaler(
                spec.min_replica, spec.max_replica, threshold, self._up_after_s, self._down_after_s
            )
        return rule


def _clamp(target: int, spec: EndpointSpec) -> int:
    return max(spec.min_replica, min(spec.max_replica, target))


def _options(spec: EndpointSpec) -> RunnerOptions:
    return RunnerOptions(env=dict(spec.env), threads=spec.cpu_threads)
