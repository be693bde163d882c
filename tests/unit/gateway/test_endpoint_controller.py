"""The endpoint controller on the real scheduler with fake runners: autoscaling on an injected clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

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


async def test_replicas_follow_pending_requests_up_and_down(tmp_path: Path) -> None:
    clock = ManualClock()
    store = make_store(tmp_path / "hub", {"t/a": 1000})
    scheduler = Scheduler(
        store,
        Limits(memory_budget_bytes=4000 * MB, health_every_s=0),
        Starter(clock, memory=100 * MB),
        history=LoadHistory(None),  # type: ignore[arg-type]
        clock=clock,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'accounts.db'}")
    migrate(engine)
    controller = EndpointController(
        EndpointStore(engine), scheduler, clock=clock, scale_up_after_s=10, scale_down_after_s=60
    )
    spec = EndpointSpec(
        namespace="ns",
        name="ep",
        repository="t/a",
        revision="r",
        task="feature-extraction",
        min_replica=1,
        max_replica=3,
        scaling_threshold=2,
    )
    await controller.create(spec, "someone")
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
