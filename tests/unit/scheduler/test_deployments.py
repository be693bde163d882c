"""Deployments: an endpoint's pinned replicas, spread requests, scaling to zero and back, memory, retiring."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hubserve.errors import EndpointCapacity, EndpointUnavailable, ModelLoading
from hubserve.protocol import RunnerOptions
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.scheduler import Limits, Scheduler
from hubserve.types.names import ModelId
from tests.unit.scheduler.fakes import MB, ManualClock, Starter, make_store

pytestmark = pytest.mark.anyio
A, B = ModelId.parse("t/a"), ModelId.parse("t/b")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def starter(clock: ManualClock) -> Starter:
    return Starter(clock, memory=300 * MB)


def make(tmp_path: Path, clock: ManualClock, starter: Starter, budget_mb: int = 1000) -> Scheduler:
    store = make_store(tmp_path / "hub", {"t/a": 1000, "t/b": 1000})
    return Scheduler(
        store,
        Limits(memory_budget_bytes=budget_mb * MB, keep_alive_s=60.0, health_every_s=0),
        starter,
        history=LoadHistory(None),  # type: ignore[arg-type]
        clock=clock,
    )


async def ready(scheduler: Scheduler, key: str, count: int) -> None:
    for _ in range(200):
        state = scheduler.deployment(key)
        if state is not None and state["ready"] == count and state["starting"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} never had {count} ready replicas: {scheduler.deployment(key)}")


async def test_a_deployments_options_go_to_each_of_its_runners_and_serverless_gets_none(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter)
    options = RunnerOptions(env={"MODE": "fast"}, threads=1)
    await scheduler.deploy("ep/env@1", A, replicas=2, options=options)
    await ready(scheduler, "ep/env@1", 2)
    async with scheduler.lease(B, hold_s=10):
        pass
    assert list(zip(starter.started, starter.options, strict=True)) == [
        ("t/a", options),
        ("t/a", options),
        ("t/b", None),
    ]


async def test_requests_are_spread_over_the_replicas(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await scheduler.deploy("ep/one@1", A, replicas=2)
    scheduler.route("ep/one", "ep/one@1")
    await ready(scheduler, "ep/one@1", 2)
    held: list[object] = []
    release = asyncio.Event()

    async def call() -> None:
        async with scheduler.lease(A, deployment="ep/one") as lease:
            held.append(lease.replica)
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(4)]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*tasks)
    assert len({id(r) for r in held}) == 2  # least outstanding first: both runners took two
    (row,) = scheduler.ps()
    assert row["endpoint"] == "ep/one@1" and len(row["runners"]) == 2 and row["target_replicas"] == 2


async def test_scaled_to_zero_it_answers_loading_then_a_held_request_wakes_it(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter)
    await scheduler.deploy("ep@1", A, replicas=1)
    scheduler.route("ep", "ep@1")
    await ready(scheduler, "ep@1", 1)
    await scheduler.scale("ep@1", 0)
    await asyncio.sleep(0.05)
    assert scheduler.deployment("ep@1")["ready"] == 0 and scheduler.ps()[0]["state"] == "scaled_to_zero"
    with pytest.raises(ModelLoading):  # the request starts a replica and gets the cold-start answer
        async with scheduler.lease(A, deployment="ep"):
            pass
    async with scheduler.lease(A, deployment="ep", hold_s=10) as lease:
        assert await lease.encode(_call()) is not None
    assert scheduler.deployment("ep@1")["target"] == 1


async def test_a_deployment_that_does_not_fit_is_refused_and_evicts_no_other(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter, budget_mb=900)
    await scheduler.deploy("ep1@1", A, replicas=2)  # 2 x 300 MiB measured; one more needs ~350
    await ready(scheduler, "ep1@1", 2)
    with pytest.raises(EndpointCapacity, match="held by endpoints"):
        await scheduler.deploy("ep2@1", B, replicas=1)
    assert scheduler.deployment("ep1@1")["ready"] == 2 and scheduler.deployment("ep2@1") is None
    with pytest.raises(EndpointCapacity):  # nor may one grow past the budget
        await scheduler.scale("ep1@1", 4)


async def test_idle_serverless_models_make_room_for_a_deployment(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, budget_mb=800)
    async with scheduler.lease(B, hold_s=10):
        pass
    await scheduler.deploy("ep@1", A, replicas=2)
    assert "t/b" not in {row["model"] for row in scheduler.ps()}


async def test_retire_waits_for_running_requests_and_a_retired_route_is_unavailable(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter)
    await scheduler.deploy("ep@1", A, replicas=1)
    scheduler.route("ep", "ep@1")
    await ready(scheduler, "ep@1", 1)
    release = asyncio.Event()

    async def slow() -> str:
        async with scheduler.lease(A, deployment="ep") as lease:
            await release.wait()
            return str((await lease.encode(_call()))["model"])

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.02)
    scheduler.route("ep", None)
    retiring = asyncio.create_task(scheduler.retire("ep@1"))
    await asyncio.sleep(0.1)
    assert not retiring.done()  # a request is still running on it
    release.set()
    assert await task == "t/a"
    await retiring
    assert scheduler.deployment("ep@1") is None
    with pytest.raises(EndpointUnavailable):
        async with scheduler.lease(A, deployment="ep"):
            pass


async def test_scaling_down_retires_the_least_busy_replica_and_a_crash_is_replaced(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter)
    await scheduler.deploy("ep@1", A, replicas=2)
    await ready(scheduler, "ep@1", 2)
    await scheduler.scale("ep@1", 1)
    await ready(scheduler, "ep@1", 1)
    assert len(starter.started) == 2
    scheduler.route("ep", "ep@1")
    async with scheduler.lease(A, deployment="ep") as lease:
        lease.replica.runner.kill()
    await asyncio.sleep(1.5)  # the backoff, then a replacement
    await ready(scheduler, "ep@1", 1)
    assert len(starter.started) == 3


def _call():  # type: ignore[no-untyped-def]
    from hubserve.protocol import EncodeCall

    return EncodeCall(task="feature-extraction", inputs=["x"], params={}, single=False)
