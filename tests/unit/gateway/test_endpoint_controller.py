"""The endpoint controller on the real scheduler with fake runners: autoscaling on an injected clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hubserve.accounts.database import make_engine, migrate
from hubserve.accounts.endpoints import EndpointStore
from hubserve.gateway.endpoint_controller import EndpointController
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.scheduler import Limits, Scheduler
from hubserve.types.endpoints import EndpointSpec
from hubserve.types.names import ModelId
from tests.unit.scheduler.fakes import MB, ManualClock, Starter, make_store

pytestmark = pytest.mark.anyio
A = ModelId.parse("t/a")


async def settle(controller: EndpointController, name: str, ready: int) -> None:
    live = controller.get("ns", name)
    for _ in range(300):
        status = controller.status(live)
        if status["readyReplica"] == ready == status["targetReplica"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(controller.status(live))


def spec_of(name: str, **fields: object) -> EndpointSpec:
    base: dict[str, object] = {
        "namespace": "ns",
        "name": name,
        "repository": "t/a",
        "revision": "r",
        "task": "feature-extraction",
    }
    return EndpointSpec.model_validate({**base, **fields})


def build(tmp_path: Path) -> tuple[ManualClock, Starter, Scheduler, EndpointController, Engine]:
    clock = ManualClock()
    starter = Starter(clock, memory=100 * MB)
    scheduler = Scheduler(
        make_store(tmp_path / "hub", {"t/a": 1000}),
        Limits(memory_budget_bytes=4000 * MB, health_every_s=0),
        starter,
        history=LoadHistory(None),  # type: ignore[arg-type]
        clock=clock,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'accounts.db'}")
    migrate(engine)
    controller = EndpointController(
        EndpointStore(engine), scheduler, clock=clock, scale_up_after_s=10, scale_down_after_s=60
    )
    return clock, starter, scheduler, controller, engine


async def test_an_idle_endpoint_scales_to_zero_after_its_timeout(tmp_path: Path) -> None:
    clock, _, scheduler, controller, engine = build(tmp_path)
    await controller.create(spec_of("idle", min_replica=0, scale_to_zero_timeout_min=2), "someone")
    await settle(controller, "idle", 1)
    clock.advance(119)
    await controller.tick()
    assert controller.status(controller.get("ns", "idle"))["state"] == "running"
    clock.advance(1)
    await controller.tick()
    assert controller.status(controller.get("ns", "idle"))["state"] == "scaledToZero"
    await controller.close()
    await scheduler.close()
    engine.dispose()


async def test_a_model_that_fails_to_load_makes_the_endpoint_failed_with_the_runner_error(
    tmp_path: Path,
) -> None:
    _, starter, scheduler, controller, engine = build(tmp_path)
    starter.fail_next = True
    live = await controller.create(spec_of("broken"), "someone")
    for _ in range(100):
        if controller.status(live)["state"] != "initializing":
            break
        await asyncio.sleep(0.01)
    status = controller.status(live)
    assert status["state"] == "failed" and "weights of t/a are corrupt" in status["message"]
    await controller.close()
    await scheduler.close()
    engine.dispose()


async def test_replicas_follow_pending_requests_up_and_down(tmp_path: Path) -> None:
    clock, _, scheduler, controller, engine = build(tmp_path)
    await controller.create(spec_of("ep", min_replica=1, max_replica=3, scaling_threshold=2), "someone")
    await settle(controller, "ep", 1)
    release = asyncio.Event()

    async def hold() -> None:
        async with scheduler.lease(A, deployment="ns/ep", hold_s=30):
            await release.wait()

    held = [asyncio.create_task(hold()) for _ in range(5)]  # 5 pending on 1 replica: above 2 per replica
    await asyncio.sleep(0.05)
    await controller.tick()
    assert controller.status(controller.get("ns", "ep"))["targetReplica"] == 1  # not for 10 s yet
    clock.advance(10)
    await controller.tick()
    await settle(controller, "ep", 2)
    await controller.tick()  # 5 on 2 replicas is still above 2 each: a new window starts
    clock.advance(10)
    await controller.tick()
    await settle(controller, "ep", 3)
    release.set()
    await asyncio.gather(*held)
    await controller.tick()  # idle now: the stabilisation window starts
    clock.advance(59)
    await controller.tick()
    assert controller.status(controller.get("ns", "ep"))["targetReplica"] == 3
    clock.advance(1)
    await controller.tick()
    await settle(controller, "ep", 2)
    clock.advance(60)
    await controller.tick()
    await controller.tick()
    clock.advance(60)
    await controller.tick()
    await settle(controller, "ep", 1)  # down to minReplica, no further
    await controller.close()
    await scheduler.close()
    engine.dispose()
