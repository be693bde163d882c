"""SparePool: keeps runner processes started ahead of need, so a cold start pays only for loading weights."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from hubserve.protocol import RunnerConfig, RunnerOptions
from hubserve.runners.parent.client import Deadlines, RunnerClient
from hubserve.runners.parent.process import RunnerProcess
from hubserve.runners.parent.transport import SocketTransport

log = logging.getLogger(__name__)
REFILL_DELAY_S = 2.0


class SparePool:
    """Holds up to ``spares`` idle runners that have imported their libraries and wait for a model."""

    def __init__(
        self, socket_dir: Path, spares: int, config: RunnerConfig, deadlines: Deadlines | None = None
    ) -> None:
        self._socket_dir = socket_dir
        self._spares = spares
        self._config = config  # what every runner process is started with (from the gateway's settings)
        self._deadlines = deadlines or Deadlines()
        self._ready: list[RunnerProcess] = []
        self._filling: set[asyncio.Task[None]] = set()
        self._spawn_s = 2.5  # learned from each process start

    def fill(self) -> None:
        """Start spares in the background until there are enough."""
        while len(self._ready) + len(self._filling) < self._spares:
            task = asyncio.create_task(self._add())
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)

    async def _add(self) -> None:
        try:
            self._ready.append(await RunnerProcess.spawn(self._socket_dir, self._config))
        except Exception:  # a failed spare is logged; the next request starts a runner itself
            log.exception("could not start a spare runner")

    def startup_estimate_s(self) -> float:
        """Seconds a start spends before loading weights: none with a spare ready, else a process start."""
        return 0.0 if any(p.alive for p in self._ready) else self._spawn_s

    async def start(self, model: str, options: RunnerOptions | None = None) -> RunnerClient:
        """A runner with ``model`` loaded: a spare if one is ready, else a fresh process.

        A runner with an ``env`` is always a fresh process: variables must be there before imports read them.
        """
        options = options or RunnerOptions()
        process = None
        while self._ready and process is None and not options.env:
            candidate = self._ready.pop()
            process = candidate if candidate.alive else None
        if process is None:
            started = time.perf_counter()
            process = await RunnerProcess.spawn(self._socket_dir, self._config, options.env)
            self._spawn_s = 0.5 * self._spawn_s + 0.5 * (time.perf_counter() - started)
        process.label = model
        client = RunnerClient(model, SocketTransport(process.socket), process, self._deadlines)
        try:
            await client.load(options.threads)
        except BaseException:
            await client.stop()
            raise
        finally:
            # Later, not now: a spare's start-up (seconds of imports) would slow this model's first requests.
            asyncio.get_running_loop().call_later(REFILL_DELAY_S, self.fill)
        return client

    async def close(self) -> None:
        """Stop every spare."""
        for task in list(self._filling):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for process in self._ready:
            await process.stop()
        self._ready.clear()
