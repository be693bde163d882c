"""EncodeBatcher: requests for one runner, task and parameters that arrive close together run as one call.

A runner computes one batch at a time, its pieces side by side on its threads. While it computes, the
next batch gathers in the gateway. It goes as soon as it holds its share of the model's recent demand
(the most inputs recently outstanding at once, a landing batch's included, split over the batches that
may be in flight), or else a quarter of the way into the time the runner has left (learned from the
batches before): the thread with the smallest piece frees up well before the whole batch is done, and the
next batch must be there, tokenized, by then. At most two batches per key are in flight. A request that
finds the runner idle waits a few milliseconds for company unless its share is already there. Batches are
grouped by length and bounded by padded tokens and by the inputs one request may hold. A batch never
spans two runners: its key holds the runner it goes to. Each caller gets exactly its own results; if a batch
fails with a client error, its callers are retried one by one, so one bad input fails only its own
request.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from hubserve.errors import HubserveError
from hubserve.protocol import EncodeCall
from hubserve.scheduler.runner import Runner

# When the next batch goes, as a share of the time the runner has left. At 64 clients on two threads,
# measured: at 0.5 a thread waited for the next batch 4.5-5.8% of the time (median wait 8 ms), at 0.2-0.3
# 1-3.5%, and throughput rose ~2-3%; at 0.1 and below, batches swung between 1 and 64 requests.
SEND_AHEAD = 0.25

# How long the demand a model has seen is remembered (it fades by e each this many seconds). Sending a
# batch once it holds its share keeps the batches in flight even. Measured with a per-forward trace at 64
# clients: the timing rule alone settled in two of three runs into uneven pairs (44 and 20; 63 and 1 was
# seen too) in which the runner's threads waited 8.6-10% of the time while the big batch's callers came
# back. With shares counted at flushes only, a server settled either into two batches of 32 (threads
# waiting 0.34-0.39%) or into three of 21; counting a landing batch's callers too, 277 of 279 traced
# batches held 32, and throughput rose ~7% over the three-of-21 state in traced runs.
DEMAND_MEMORY_S = 1.0

# Tasks whose answer to a list of inputs is one entry per input, and whether a single-string request gets
# that entry alone (True) or a one-entry list (False: feature-extraction and text-classification nest).
BATCHABLE = {
    "feature-extraction": False,
    "text-classification": False,
    "token-classification": True,
    "fill-mask": True,
    "text-ranking": False,
    # seq2seq: one generate() over the merged texts, padded; each caller gets its own [{"<task>_text"}]
    "summarization": False,
    "translation": False,
    "text2text-generation": False,
}


@dataclass
class _Item:
    inputs: list[Any]  # texts, pairs of texts, or token-id lists (see _texts)
    single: bool
    future: asyncio.Future[Any]

    @property
    def longest(self) -> int:
        """The longest input in characters; a pair counts both texts, a token id three characters."""
        return max(_characters(x) for x in self.inputs)


@dataclass
class _Pending:
    runner: Runner
    model: str
    call: EncodeCall  # the first caller's: its task and parameters are every caller's
    items: list[_Item] = field(default_factory=list)
    inputs: int = 0
    timer: asyncio.TimerHandle | None = None


@dataclass(frozen=True)
class _Sent:
    """One batch on its way to the runner."""

    key: bytes
    model: str
    at: float  # loop time it was sent
    tokens: int  # padded tokens, by the batcher's guess
    inputs: int


@dataclass
class _Lane:
    """One key's batches in flight."""

    in_flight: int = 0
    inputs: int = 0  # inputs in the batches in flight
    busy_until: float = 0.0  # loop time at which the runner should be done with what it was sent
    last_landed: float = 0.0


class EncodeBatcher:
    """Collects compatible calls and runs them together."""

    def __init__(
        self, *, wait_s: float, max_tokens: int, max_inputs: int = 256, max_in_flight: int = 2
    ) -> None:
        self.wait_s = wait_s
        self.max_in_flight = max_in_flight
        self.max_tokens = max_tokens
        self.max_inputs = max_inputs
        self._pending: dict[bytes, _Pending] = {}
        self._lanes: dict[bytes, _Lane] = {}
        self._pace: dict[str, float] = {}  # model → learned seconds per padded token
        self._demand: dict[str, tuple[float, float]] = {}  # model → (most inputs outstanding, loop time)
        self._running: set[asyncio.Task[bool]] = set()
        self.calls = 0  # runner calls made, for tests and metrics

    async def run(self, runner: Runner, model: str, call: EncodeCall) -> Any:
        """The answer to one prepared request on ``runner``, computed alone or in a batch."""
        if call.task not in BATCHABLE or self.wait_s <= 0 or not _texts(call.inputs):
            self.calls += 1
            return await runner.encode(call)
        key = orjson.dumps([id(runner), model, call.task, call.params], option=orjson.OPT_SORT_KEYS)
        item = _Item(
            inputs=list(call.inputs), single=call.single, future=asyncio.get_running_loop().create_future()
        )
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(runner, model, call)
            self._arm(key, pending)
        pending.items.append(item)
        pending.inputs += len(item.inputs)
        if pending.inputs >= self.max_inputs or self._holds_its_share(key, pending):
            self._flush(key)
        return await item.future

    def _holds_its_share(self, key: bytes, pending: _Pending) -> bool:
        """Whether the pending batch may go now: room in flight, and its share of the recent demand."""
        lane = self._lanes.get(key)
        if lane is not None and lane.in_flight >= self.max_in_flight:
            return False
        share = self._recent_demand(pending.model) / self.max_in_flight
        return share >= 2 and pending.inputs >= share

    def _recent_demand(self, model: str, outstanding: int = 0) -> float:
        """The most inputs outstanding at once lately, faded with time; ``outstanding`` counts now."""
        now = asyncio.get_running_loop().time()
        peak, at = self._demand.get(model, (0.0, now))
        peak = max(float(outstanding), peak * math.exp((at - now) / DEMAND_MEMORY_S))
        if outstanding:
            self._demand[model] = (peak, now)
        return peak

    def _arm(self, key: bytes, pending: _Pending) -> None:
        """Set when the pending batch goes: soon if the runner is idle, else well before it frees up."""
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        lane = self._lanes.get(key)
        if lane is None or lane.in_flight == 0:
            delay = self.wait_s
        elif lane.in_flight < self.max_in_flight:
            # Send it while the runner still computes: early enough that it is there when the runner's
            # first thread frees up, late enough to take in the requests that arrive meanwhile.
            remaining = lane.busy_until - asyncio.get_running_loop().time()
            delay = max(self.wait_s, SEND_AHEAD * remaining - self.wait_s)
        else:
            return  # a landing batch arms it
        pending.timer = asyncio.get_running_loop().call_later(delay, self._flush, key)

    def _flush(self, key: bytes) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        lane = self._lanes.setdefault(key, _Lane())
        pace = self._pace.get(pending.model)
        self._recent_demand(pending.model, outstanding=lane.inputs + pending.inputs)
        for group in self._groups(pending.items):
            now = asyncio.get_running_loop().time()
            inputs = sum(len(item.inputs) for item in group)
            tokens = inputs * _tokens(group[-1].longest)
            lane.in_flight += 1
            lane.inputs += inputs
            if pace is not None:
                lane.busy_until = max(now, lane.busy_until) + pace * tokens
            task = asyncio.create_task(self._run_group(pending, group, BATCHABLE[pending.call.task]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            sent = _Sent(key, pending.model, now, tokens, inputs)
            task.add_done_callback(lambda done, s=sent: self._landed(s, done))  # type: ignore[misc]

    def _landed(self, sent: _Sent, done: asyncio.Task[bool]) -> None:
        """A batch finished: learn the runner's pace; whatever gathered behind it goes now or soon."""
        key = sent.key
        lane = self._lanes[key]
        now = asyncio.get_running_loop().time()
        if not done.cancelled() and done.result():  # failed batches (and their retries) teach nothing
            # It started computing when it was sent, or when the batch ahead of it landed.
            per_token = (now - max(sent.at, lane.last_landed)) / max(sent.tokens, 1)
            pace = self._pace.get(sent.model)
            self._pace[sent.model] = per_token if pace is None else 0.7 * pace + 0.3 * per_token
        lane.last_landed = now
        pending = self._pending.get(key)
        # Its callers stay outstanding until answered, so they count in the demand (see DEMAND_MEMORY_S).
        self._recent_demand(sent.model, outstanding=lane.inputs + (pending.inputs if pending else 0))
        lane.in_flight -= 1
        lane.inputs -= sent.inputs
        if lane.in_flight == 0:
            del self._lanes[key]
            if pending is not None:
                self._flush(key)  # its requests have waited a whole batch already
        elif pending is not None:
            if self._holds_its_share(key, pending):
                self._flush(key)
            else:
                self._arm(key, pending)

    def _groups(self, items: list[_Item]) -> list[list[_Item]]:
        """Similar lengths together; each group within the token bound and the inputs of one request."""
        groups: list[list[_Item]] = []
        current: list[_Item] = []
        count = 0
        for item in sorted(items, key=lambda i: i.longest):
            tokens = (count + len(item.inputs)) * _tokens(item.longest)
            if current and (tokens > self.max_tokens or count + len(item.inputs) > self.max_inputs):
                groups.append(current)
                current, count = [], 0
            current.append(item)
            count += len(item.inputs)
        if current:
            groups.append(current)
        return groups

    async def _run_group(self, pending: _Pending, group: list[_Item], unwrap: bool) -> bool:
        """Answer every caller of the group; whether one runner call did it."""
        inputs = [x for item in group for x in item.inputs]
        call = EncodeCall(pending.call.task, inputs, pending.call.params, single=False)
        try:
            self.calls += 1
            results = await pending.runner.encode(call)
        except HubserveError as exc:
            if len(group) > 1 and exc.status_code < 500:
                await asyncio.gather(*(self._run_group(pending, [item], unwrap) for item in group))
                return False
            _fail(group, exc)
            return False
        except Exception as exc:  # a transport failure reaches every caller of this batch
            _fail(group, exc)
            return False
        start = 0
        for item in group:
            mine = results[start : start + len(item.inputs)]
            if isinstance(mine, np.ndarray):
                mine = mine.copy()  # a view would keep the whole batch alive in the response cache
            start += len(item.inputs)
            if not item.future.done():
                item.future.set_result(mine[0] if item.single and unwrap else mine)
        return True


def _fail(group: list[_Item], exc: BaseException) -> None:
    for item in group:
        if not item.future.done():
            item.future.set_exception(exc)


def _texts(inputs: Any) -> bool:
    """A list whose items are each one input: a text, a pair of texts, or token ids."""
    return isinstance(inputs, list) and bool(inputs) and all(_one_input(x) for x in inputs)


def _one_input(item: Any) -> bool:
    if isinstance(item, str):
        return True
    if not isinstance(item, list) or not item:
        return False
    return all(isinstance(x, str) for x in item) or all(isinstance(x, int) for x in item)


def _characters(item: str | list[Any]) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item[0], str):
        return sum(len(x) for x in item)
    return 3 * len(item)


def _tokens(chars: int) -> int:
    """A cheap upper-side guess of tokens from characters."""
    return chars // 3 + 2
