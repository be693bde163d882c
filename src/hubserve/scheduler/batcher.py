"""EncodeBatcher: encoder requests for one model, task and parameters, arriving close together, run as one.

Up to two batches per key are in flight: one computing in the runner and the next already on its way,
so the runner never idles while the gateway answers one batch and gathers the next (the runner still
computes one batch at a time). Past that, new requests wait and go together as soon as one lands; a
request that may go at once still waits a few milliseconds for company. Batches are grouped by length
and bounded by padded tokens. Each caller gets exactly its own results; if a batch fails with a client
error, its callers are retried one by one, so one bad input fails only its own request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hubserve.errors import HubserveError
from hubserve.scheduler.runner import Runner
from hubserve.tasks.base import CallContext

# Tasks whose answer to a list of inputs is one entry per input, and whether a single-string request gets
# that entry alone (True) or a one-entry list (False: feature-extraction and text-classification nest).
BATCHABLE = {
    "feature-extraction": False,
    "text-classification": False,
    "token-classification": True,
    "fill-mask": True,
}


@dataclass
class _Item:
    inputs: list[str]
    single: bool
    future: asyncio.Future[Any]

    @property
    def longest(self) -> int:
        return max(len(x) for x in self.inputs)


@dataclass
class _Pending:
    runner: Runner
    task: str
    envelope: dict[str, Any]
    ctx: CallContext
    items: list[_Item] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class EncodeBatcher:
    """Collects compatible calls for ``wait_s`` and runs them together."""

    def __init__(
        self, *, wait_s: float, max_tokens: int, max_inputs: int = 256, max_in_flight: int = 2
    ) -> None:
        self.wait_s = wait_s
        self.max_in_flight = max_in_flight
        self.max_tokens = max_tokens
        self.max_inputs = max_inputs
        self._pending: dict[str, _Pending] = {}
        self._in_flight: dict[str, int] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.calls = 0  # runner calls made, for tests and metrics

    async def run(
        self, runner: Runner, model: str, task: str, envelope: dict[str, Any], ctx: CallContext
    ) -> Any:
        """The answer to one request, computed alone or in a batch."""
        inputs = envelope.get("inputs")
        if task not in BATCHABLE or self.wait_s <= 0 or not _texts(inputs):
            self.calls += 1
            return await runner.encode(task, envelope, ctx)
        rest = {k: v for k, v in envelope.items() if k not in ("inputs", "options")}
        key = json.dumps([model, task, rest], sort_keys=True)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(runner, task, rest, ctx)
            if self._in_flight.get(key, 0) < self.max_in_flight:
                pending.timer = asyncio.get_running_loop().call_later(self.wait_s, self._flush_soon, key)
        texts: list[str] = [inputs] if isinstance(inputs, str) else list(inputs or [])
        item = _Item(
            inputs=texts,
            single=isinstance(inputs, str),
            future=asyncio.get_running_loop().create_future(),
        )
        pending.items.append(item)
        if sum(len(i.inputs) for i in pending.items) >= self.max_inputs:
            self._flush_soon(key)
        return await item.future

    def _flush_soon(self, key: str) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        for group in self._groups(pending.items):
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            task = asyncio.create_task(self._run_group(pending, group, BATCHABLE[pending.task]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(lambda _, key=key: self._landed(key))  # type: ignore[misc]

    def _landed(self, key: str) -> None:
        """A batch finished: whatever queued up behind it goes now."""
        self._in_flight[key] -= 1
        if self._in_flight[key] == 0:
            del self._in_flight[key]
        if self._in_flight.get(key, 0) < self.max_in_flight and key in self._pending:
            self._flush_soon(key)

    def _groups(self, items: list[_Item]) -> list[list[_Item]]:
        """Similar lengths together; each group's padded size (inputs × longest) within the token bound."""
        groups: list[list[_Item]] = []
        current: list[_Item] = []
        count = 0
        for item in sorted(items, key=lambda i: i.longest):
            tokens = (count + len(item.inputs)) * _tokens(item.longest)
            if current and tokens > self.max_tokens:
                groups.append(current)
                current, count = [], 0
            current.append(item)
            count += len(item.inputs)
        if current:
            groups.append(current)
        return groups

    async def _run_group(self, pending: _Pending, group: list[_Item], unwrap: bool) -> None:
        envelope = {**pending.envelope, "inputs": [x for item in group for x in item.inputs]}
        try:
            self.calls += 1
            results = await pending.runner.encode(pending.task, envelope, pending.ctx)
        except HubserveError as exc:
            if len(group) > 1 and exc.status_code < 500:
                await asyncio.gather(*(self._run_group(pending, [item], unwrap) for item in group))
                return
            _fail(group, exc)
            return
        except Exception as exc:  # a transport failure reaches every caller of this batch
            _fail(group, exc)
            return
        start = 0
        for item in group:
            mine = results[start : start + len(item.inputs)]
            if isinstance(mine, np.ndarray):
                mine = mine.copy()  # a view would keep the whole batch alive in the response cache
            start += len(item.inputs)
            if not item.future.done():
                item.future.set_result(mine[0] if item.single and unwrap else mine)


def _fail(group: list[_Item], exc: BaseException) -> None:
    for item in group:
        if not item.future.done():
            item.future.set_exception(exc)


def _texts(inputs: Any) -> bool:
    if isinstance(inputs, str):
        return bool(inputs)
    return isinstance(inputs, list) and bool(inputs) and all(isinstance(x, str) for x in inputs)


def _tokens(chars: int) -> int:
    """A cheap upper-side guess of tokens from characters."""
    return chars // 3 + 2
