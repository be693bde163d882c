from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hubserve.errors import (
    ModelFailed,
    ModelLoadFailed,
    ModelLoading,
    ModelTooLarge,
    NoCapacity,
    Overloaded,
    ShuttingDown,
)
from hubserve.protocol import EncodeCall
from hubserve.scheduler.history import LoadHistory
from hubserve.scheduler.policy import RUNNER_OVERHEAD_BYTES, guess_load_s
from hubserve.scheduler.restarts import RestartPolicy
from hubserve.scheduler.scheduler import GATEWAY_OVERHEAD_S, Limits, Scheduler
from hubserve.types.names import ModelId
from tests.unit.scheduler.fakes import MB, ManualClock, Starter, make_store

pytestmark = pytest.mark.anyio
A, B, C = ModelId.parse("t/a"), ModelId.parse("t/b"), ModelId.parse("t/c")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def starter(clock: ManualClock) -> Starter:
    return Starter(clock)


def make(tmp_path: Path, clock: ManualClock, starter: Starter, **limits: object) -> Scheduler:
    store = make_store(tmp_path / "hub", {"t/a": 1000, "t/b": 1000, "t/c": 1000, "t/big": 2000})
    defaults: dict[str, object] = {"memory_budget_bytes": 1000 * MB, "keep_alive_s": 60.0}
    return Scheduler(
        store,
        Limits(**{**defaults, **limits}),
        starter,
        history=LoadHistory(None),  # type: ignore[arg-type]
        clock=clock,
    )


async def use(scheduler: Scheduler, model: ModelId, **kw: object) -> None:
    async with scheduler.lease(model, hold_s=30, **kw):  # type: ignore[arg-type]
        pass


async def test_concurrent_first_requests_share_one_load(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await asyncio.gather(*(use(scheduler, A) for _ in range(5)))
    assert starter.started == ["t/a"]


async def test_cold_request_gets_loading_with_estimate_then_succeeds(tmp_path, clock, starter) -> None:
    starter.gate = asyncio.Event()
    scheduler = make(tmp_path, clock, starter)
    with pytest.raises(ModelLoading) as caught:
        async with scheduler.lease(A, hold_s=0):
            pass
    assert caught.value.message == "Model t/a is currently loading"
    assert caught.value.estimated_time_s == pytest.approx(guess_load_s(1000) + GATEWAY_OVERHEAD_S)
    starter.gate.set()
    await use(scheduler, A)
    assert starter.started == ["t/a"]


async def test_hold_times_out_with_loading(tmp_path, clock, starter) -> None:
    starter.gate = asyncio.Event()
    scheduler = make(tmp_path, clock, starter)
    with pytest.raises(ModelLoading):
        async with scheduler.lease(A, hold_s=0.05):
            pass


async def test_estimated_time_is_learned(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    for seconds, expected in [(4.0, 4.0), (8.0, 6.0), (5.0, 5.0), (30.0, 6.5)]:  # median of what was seen
        starter.load_s = seconds
        await use(scheduler, A)
        await scheduler.unload(A)
        assert scheduler.estimated_time("t/a") == pytest.approx(expected + GATEWAY_OVERHEAD_S)


async def test_lru_eviction_order(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, memory_budget_bytes=850 * MB)  # room for two 400 MB runners
    await use(scheduler, A)
    clock.advance(1)
    await use(scheduler, B)
    clock.advance(1)
    await use(scheduler, A)  # A is now the most recently used
    await use(scheduler, C)
    assert sorted(m["model"] for m in scheduler.ps()) == ["t/a", "t/c"]
    assert starter.runners["t/b"].exited.is_set()


async def test_busy_runners_are_never_evicted(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, memory_budget_bytes=850 * MB)
    async with scheduler.lease(B, hold_s=30):
        clock.advance(10)
        await use(scheduler, A)  # A is idle but more recent than busy B's start
        clock.advance(10)
        await use(scheduler, C)  # room for one more: the idle A goes, though B was used less recently
        assert not starter.runners["t/b"].exited.is_set()
        assert starter.runners["t/a"].exited.is_set()
        assert sorted(m["model"] for m in scheduler.ps()) == ["t/b", "t/c"]


async def test_no_capacity_when_everything_is_busy(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, memory_budget_bytes=850 * MB)
    async with scheduler.lease(A, hold_s=30), scheduler.lease(B, hold_s=30):
        with pytest.raises(NoCapacity):
            await use(scheduler, C)
        assert not starter.runners["t/a"].exited.is_set()
        assert not starter.runners["t/b"].exited.is_set()


async def test_pinned_models_are_never_evicted_or_reaped(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, memory_budget_bytes=850 * MB)
    await scheduler.load(A, pin=True)
    await use(scheduler, B)
    clock.advance(3600)
    assert await scheduler.reap() == ["t/b"]
    await use(scheduler, B)
    await use(scheduler, C)  # must evict B, not the pinned A
    assert sorted(m["model"] for m in scheduler.ps()) == ["t/a", "t/c"]


async def test_keep_alive_default_zero_and_negative(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await use(scheduler, A)
    clock.advance(59)
    assert await scheduler.reap() == []
    clock.advance(2)
    assert await scheduler.reap() == ["t/a"]
    await use(scheduler, B, keep_alive_s=0)
    await asyncio.sleep(0.01)
    assert starter.runners["t/b"].exited.is_set() and scheduler.ps() == []
    await use(scheduler, C, keep_alive_s=-1)
    clock.advance(10**6)
    assert await scheduler.reap() == []


async def test_queue_full_is_overloaded(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, max_concurrency=1, max_queue=1)
    await use(scheduler, A)
    release = asyncio.Event()

    async def hold() -> None:
        async with scheduler.lease(A, hold_s=30):
            await release.wait()

    first = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(use(scheduler, A))  # waits for the one slot
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded):
        await use(scheduler, A)
    release.set()
    await asyncio.gather(first, second)


async def test_crash_is_noticed_and_the_model_restarts_after_its_backoff(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await use(scheduler, A)
    starter.runners["t/a"].kill()
    await asyncio.sleep(0.01)
    (row,) = scheduler.ps()
    assert row["state"] == "restarting" and row["restarts"] == 1 and "killed by signal 9" in row["error"]
    with pytest.raises(ModelLoading):  # a request that does not hold gets the honest cold-start answer
        async with scheduler.lease(A):
            pass
    await asyncio.sleep(1.5)  # the first backoff is 1 s; no request was needed to start it again
    assert starter.started == ["t/a", "t/a"]
    assert scheduler.ps()[0]["state"] == "ready"
    await use(scheduler, A)


async def test_a_request_while_a_crashed_runner_is_cleaned_up_gets_the_cold_start_answer(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter)
    await use(scheduler, A)
    runner = starter.runners["t/a"]
    runner.stop_s = 0.5  # closing the dead runner's connections takes a while
    runner.kill()
    await asyncio.sleep(0.01)  # the watch has seen the exit and is cleaning up
    with pytest.raises(ModelLoading):  # not a crash of the gateway: the model is not ready
        async with scheduler.lease(A):
            pass
    assert scheduler.ps()[0]["state"] == "restarting"


async def test_backoff_doubles_then_the_model_is_marked_failed_and_retried_later(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter, restarts=RestartPolicy(max_crashes=3, failed_retry_s=60))
    await use(scheduler, A)
    loop = asyncio.get_running_loop()
    restarted_after = []
    for _ in range(2):
        crashed = loop.time()
        starter.runners["t/a"].kill()
        count = len(starter.started)
        while len(starter.started) == count:
            await asyncio.sleep(0.05)
        restarted_after.append(round(loop.time() - crashed, 1))
    assert restarted_after == [1.0, 2.0]
    starter.runners["t/a"].kill()  # the third crash within the window
    await asyncio.sleep(0.01)
    (row,) = scheduler.ps()
    assert row["state"] == "failed" and row["retry_in_s"] == 60 and row["restarts"] == 3
    with pytest.raises(ModelFailed, match="crashed 3 times") as failed:
        await use(scheduler, A)
    assert failed.value.headers["Retry-After"] == "60"
    await asyncio.sleep(120)
    assert len(starter.started) == 3  # failed: nothing restarts it by itself
    clock.advance(61)
    await use(scheduler, A)  # past the wait, a request tries it afresh
    assert len(starter.started) == 4 and scheduler.ps()[0]["state"] == "ready"


async def test_a_hung_runner_is_killed_by_its_health_checks_and_restarted(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, health_every_s=1.0, health_failures=2)
    await use(scheduler, A)
    runner = starter.runners["t/a"]
    await asyncio.sleep(3)
    assert runner.health_checks >= 2 and not runner.exited.is_set()  # a healthy runner is left alone
    runner.hung = True
    await asyncio.sleep(15)
    assert runner.exit_code == -9
    assert starter.runners["t/a"] is not runner and scheduler.ps()[0]["state"] == "ready"
    assert "health checks" in scheduler.ps()[0]["error"]


async def test_a_call_to_a_runner_already_gone_waits_for_the_restart_and_succeeds(
    tmp_path, clock, starter
) -> None:
    scheduler = make(tmp_path, clock, starter, health_every_s=0)
    await use(scheduler, A)
    async with scheduler.lease(A, hold_s=30) as lease:
        old = starter.runners["t/a"]
        old.kill()  # dead, and the watch has not seen it yet
        result = await lease.encode(EncodeCall("feature-extraction", ["x"]))
    assert result == {"model": "t/a", "inputs": ["x"]}
    assert starter.runners["t/a"] is not old and starter.started == ["t/a", "t/a"]


async def test_restart_policy_backoff_and_window() -> None:
    policy = RestartPolicy(backoff_s=1.0, backoff_max_s=5.0, max_crashes=10, window_s=100.0)
    assert [policy.delay_s([0.0] * n, 0.0) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay_s([0.0, 0.0, 0.0], 150.0) == 1.0  # crashes older than the window are forgotten
    assert RestartPolicy(max_crashes=2).delay_s([0.0, 1.0], 2.0) is None


async def test_failed_load_reaches_waiters_and_is_retried(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    starter.fail_next = True
    with pytest.raises(ModelLoadFailed, match="corrupt"):
        await use(scheduler, A)
    await use(scheduler, A)
    assert starter.started == ["t/a", "t/a"]


async def test_model_larger_than_the_budget(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter, memory_budget_bytes=RUNNER_OVERHEAD_BYTES)
    with pytest.raises(ModelTooLarge, match="budget"):
        await use(scheduler, A)
    assert starter.started == []


async def test_measured_memory_replaces_the_estimate(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await use(scheduler, A)
    assert scheduler.ps()[0]["memory_bytes"] == 400 * MB


async def test_estimate_counts_down_while_loading_and_adds_startup(tmp_path, clock, starter) -> None:
    store = make_store(tmp_path / "hub", {"t/a": 1000})
    history = LoadHistory(tmp_path / "history.json")
    history.record("t/a", 3.0)
    scheduler = Scheduler(
        store,
        Limits(memory_budget_bytes=1000 * MB),
        starter,
        history=history,
        clock=clock,
        startup_estimate=lambda: 2.0,
    )
    assert scheduler.estimated_time("t/a") == pytest.approx(5.0 + GATEWAY_OVERHEAD_S)
    starter.gate = asyncio.Event()
    with pytest.raises(ModelLoading):
        async with scheduler.lease(A):
            pass
    clock.advance(1.5)
    assert scheduler.estimated_time("t/a") == pytest.approx(3.5 + GATEWAY_OVERHEAD_S)
    starter.gate.set()
    await use(scheduler, A)
    assert LoadHistory(tmp_path / "history.json").estimate("t/a", 1000) == pytest.approx(3.0)  # persisted


async def test_close_cancels_a_load_under_way_and_its_waiter_gets_an_error(tmp_path, clock, starter) -> None:
    starter.gate = asyncio.Event()  # this load would never end by itself
    scheduler = make(tmp_path, clock, starter)
    waiter = asyncio.ensure_future(use(scheduler, A))
    while not starter.started:
        await asyncio.sleep(0)
    await asyncio.wait_for(scheduler.close(), 1)
    with pytest.raises(ShuttingDown, match="shutting down"):
        await waiter
    assert scheduler.ps() == []


async def test_close_stops_every_model_at_once(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await use(scheduler, A)
    await use(scheduler, B)
    for runner in starter.runners.values():
        runner.stop_s = 5.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    await scheduler.close()
    assert loop.time() - started == pytest.approx(5.0)  # the loop's clock: two stops side by side
    assert all(r.exited.is_set() for r in starter.runners.values())


async def test_a_model_removed_from_the_hub_is_stopped_even_when_pinned(tmp_path, clock, starter) -> None:
    scheduler = make(tmp_path, clock, starter)
    await scheduler.load(A, pin=True)
    await use(scheduler, B)
    scheduler._store.remove(A)
    assert await scheduler.reap() == ["t/a"]
    assert starter.runners["t/a"].exited.is_set() and [m["model"] for m in scheduler.ps()] == ["t/b"]
