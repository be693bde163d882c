"""EncodeBatcher on a fake runner that computes one batch at a time, at a known pace per padded token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hubserve.errors import BadRequest
from hubserve.protocol import EncodeCall
from hubserve.scheduler.batcher import EncodeBatcher

pytestmark = pytest.mark.anyio

TEXT = "x" * 30  # every text the same length: a batch's padded tokens grow with its size only


@dataclass
class Call:
    inputs: list[str]
    sent: float
    started: float = 0.0
    ended: float = 0.0


@dataclass
class PacedRunner:
    """Computes one call at a time for ``per_input_s`` each input; answers ``f(text)`` per input."""

    per_input_s: float = 0.01
    model: str = "test/model"
    generation: Any = None
    load_s: float = 0.0
    calls: list[Call] = field(default_factory=list)
    fail_with: BaseException | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def encode(self, encode_call: EncodeCall) -> Any:
        loop = asyncio.get_running_loop()
        task = encode_call.task
        call = Call(list(encode_call.inputs), loop.time())
        self.calls.append(call)
        async with self._lock:
            call.started = loop.time()
            await asyncio.sleep(self.per_input_s * len(call.inputs))
            call.ended = loop.time()
        if self.fail_with is not None:
            raise self.fail_with
        if "bad" in call.inputs:
            raise BadRequest("bad input", param="inputs")
        if task == "feature-extraction":
            return np.asarray([[float(len(t)), float(t.count("b"))] for t in call.inputs], dtype=np.float32)
        return [{"label": t} for t in call.inputs]


def call(task: str, inputs: str | list[str], **params: Any) -> EncodeCall:
    """A prepared call, as the gateway makes one: inputs as a list, and whether one was sent."""
    return EncodeCall(task, [inputs] if isinstance(inputs, str) else inputs, params, isinstance(inputs, str))


def batcher(**kw: Any) -> EncodeBatcher:
    return EncodeBatcher(wait_s=kw.pop("wait_s", 0.003), max_tokens=kw.pop("max_tokens", 100_000), **kw)


async def test_concurrent_callers_share_a_batch_and_get_their_own_answers() -> None:
    runner, b = PacedRunner(), batcher()
    texts = [f"text {i} " + "b" * i for i in range(6)]
    answers = await asyncio.gather(*(b.run(runner, "m@1", call("feature-extraction", t)) for t in texts))
    assert len(runner.calls) == 1
    for text, answer in zip(texts, answers, strict=True):
        assert answer.tolist() == [[float(len(text)), float(text.count("b"))]]  # nested: TEI's shape


async def test_a_list_request_gets_its_own_slice_and_single_inputs_unwrap_where_the_task_does() -> None:
    runner, b = PacedRunner(), batcher()
    listed, single = await asyncio.gather(
        b.run(runner, "m@1", call("token-classification", ["a", "c"])),
        b.run(runner, "m@1", call("token-classification", "d")),
    )
    assert listed == [{"label": "a"}, {"label": "c"}]
    assert single == {"label": "d"}


async def test_a_batch_never_holds_more_inputs_than_a_request_may() -> None:
    # The runner refuses a request of over max_inputs; a merged batch over it was refused, then rerun
    # caller by caller: the runner calls were [300, 200, 100].
    runner, b = PacedRunner(per_input_s=0.0001), batcher(max_inputs=256)
    await asyncio.gather(
        b.run(runner, "m@1", call("text-classification", [TEXT] * 200)),
        b.run(runner, "m@1", call("text-classification", [TEXT] * 100)),
    )
    assert sorted(len(c.inputs) for c in runner.calls) == [100, 200]


async def test_different_parameters_never_share_a_batch() -> None:
    runner, b = PacedRunner(), batcher()
    await asyncio.gather(
        b.run(runner, "m@1", call("feature-extraction", TEXT, normalize=True)),
        b.run(runner, "m@1", call("feature-extraction", TEXT, normalize=False)),
    )
    assert len(runner.calls) == 2


async def test_a_batch_never_spans_two_runners_of_the_same_model() -> None:
    first, second, b = PacedRunner(), PacedRunner(), batcher()
    answers = await asyncio.gather(
        *(
            b.run(runner, "m@1", call("text-classification", t))
            for runner, t in [(first, "a"), (second, "c")] * 2
        )
    )
    assert answers == [[{"label": "a"}], [{"label": "c"}]] * 2
    assert [c.inputs for c in first.calls] == [["a", "a"]]
    assert [c.inputs for c in second.calls] == [["c", "c"]]


async def test_a_bad_input_fails_only_its_own_request() -> None:
    runner, b = PacedRunner(), batcher()
    results = await asyncio.gather(
        *(b.run(runner, "m@1", call("text-classification", t)) for t in ("a", "bad", "c")),
        return_exceptions=True,
    )
    assert results[0] == [{"label": "a"}] and results[2] == [{"label": "c"}]
    assert isinstance(results[1], BadRequest)


async def test_a_transport_failure_reaches_every_caller_of_the_batch() -> None:
    runner, b = PacedRunner(fail_with=ConnectionError("runner gone")), batcher()
    results = await asyncio.gather(
        *(b.run(runner, "m@1", call("text-classification", t)) for t in ("a", "c")),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert len(runner.calls) == 1


async def test_a_full_batch_goes_without_waiting() -> None:
    runner, b = PacedRunner(per_input_s=0.0), batcher(wait_s=10.0, max_inputs=4)
    answers = await asyncio.wait_for(
        asyncio.gather(*(b.run(runner, "m@1", call("text-classification", TEXT)) for _ in range(4))),
        timeout=2.0,
    )
    assert len(answers) == 4 and len(runner.calls) == 1


async def test_the_padded_token_bound_splits_a_batch_by_length() -> None:
    runner, b = PacedRunner(per_input_s=0.0), batcher(max_tokens=60)
    short, long = "s" * 9, "l" * 90  # about 5 and 32 tokens each
    await asyncio.gather(
        *(b.run(runner, "m@1", call("text-classification", t)) for t in (short, long, short, long))
    )
    assert sorted(c.inputs for c in runner.calls) == [["l" * 90], ["l" * 90], ["s" * 9, "s" * 9]]


async def test_while_the_runner_computes_the_next_batch_gathers_and_goes_well_before_it_frees_up() -> None:
    runner, b = PacedRunner(per_input_s=0.02), batcher()
    run = lambda: b.run(runner, "m@1", call("text-classification", TEXT))  # noqa: E731
    await run()  # the batcher learns the runner's pace from this one

    first = [asyncio.ensure_future(run()) for _ in range(8)]  # one batch: 160 ms of compute
    await asyncio.sleep(0.02)
    later: list[asyncio.Future[Any]] = []
    for _ in range(3):  # fewer than the share of 8 (4): the timing rule sends them, not the share
        later.append(asyncio.ensure_future(run()))
        await asyncio.sleep(0.005)
    await asyncio.gather(*first, *later)

    calls = runner.calls[1:]
    assert [len(c.inputs) for c in calls] == [8, 3], "everything that arrived meanwhile went as one batch"
    # Sent a quarter of the way into the ~140 ms the runner had left: the first of a real runner's
    # threads frees up well before the whole batch is done.
    assert calls[1].sent - calls[0].started < 0.02 + 0.4 * 0.14, "it went well before the runner finished"
    assert calls[1].sent - calls[0].started > 0.04, "it waited for the requests that arrived meanwhile"
    assert calls[1].started - calls[0].ended < 0.01, "the runner did not wait for it"


async def test_once_the_demand_is_known_a_batch_goes_as_soon_as_it_holds_its_share() -> None:
    runner, b = PacedRunner(per_input_s=0.05), batcher()
    run = lambda: b.run(runner, "m@1", call("text-classification", TEXT))  # noqa: E731
    await run()  # the pace

    loop = asyncio.get_running_loop()
    first = [asyncio.ensure_future(run()) for _ in range(8)]  # demand 8: a share of 4 per batch in flight
    await asyncio.sleep(0.02)
    arrived = loop.time()
    share = [asyncio.ensure_future(run()) for _ in range(4)]
    await asyncio.sleep(0)
    beyond = asyncio.ensure_future(run())  # two batches are in flight: this one waits for a landing
    await asyncio.gather(*first, *share, beyond)

    calls = runner.calls[1:]
    assert [len(c.inputs) for c in calls] == [8, 4, 1]
    # The timing rule alone would have held them for a quarter of the ~380 ms the runner had left.
    assert calls[1].sent - arrived < 0.01, "the share went at once"
    assert calls[2].sent >= calls[0].ended, "no more than two batches in flight"


async def test_callers_that_come_back_settle_into_two_even_batches() -> None:
    """The callers of a landing batch count in the demand: each batch in flight is half of everyone."""
    runner, b = PacedRunner(per_input_s=0.004), batcher()
    run = lambda: b.run(runner, "m@1", call("text-classification", TEXT))  # noqa: E731
    await run()  # the pace
    loop = asyncio.get_running_loop()
    stop = loop.time() + 1.5

    async def caller(delay: float) -> None:
        await asyncio.sleep(delay)
        while loop.time() < stop:
            await run()
            await asyncio.sleep(0.001)  # the way back to the client and in again

    # 24 callers in three groups a third of a batch apart. Counting the demand only at flushes, the
    # batches settled at 10 (in a busy gateway, three of 21 cycled for 64 clients).
    await asyncio.gather(*(caller(group * 0.016) for group in range(3) for _ in range(8)))
    sizes = [len(c.inputs) for c in runner.calls[1:]]
    assert sizes[-12:-1] == [12] * 11, sizes


async def test_a_lone_request_goes_after_the_short_wait() -> None:
    runner, b = PacedRunner(per_input_s=0.0), batcher(wait_s=0.003)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await b.run(runner, "m@1", call("text-classification", TEXT))
    assert loop.time() - started == pytest.approx(0.003, abs=1e-5)  # the loop's clock: exact
    assert len(runner.calls) == 1
