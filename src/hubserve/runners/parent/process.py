"""RunnerProcess: start a runner as a child process, pump its output into the log, stop or kill it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

from hubserve.errors import ModelLoadFailed
from hubserve.procfs import rss_bytes
from hubserve.protocol import HEALTH, RunnerConfig

log = logging.getLogger("hubserve.runner")
_START_TIMEOUT_S = 180.0
# Runners only read the local hub; without these, transformers probes the network on every load (~100 ms).
RUNNER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


class RunnerProcess:
    """One runner process and the Unix socket it serves on."""

    def __init__(self, proc: asyncio.subprocess.Process, socket: Path) -> None:
        self.proc = proc
        self.socket = socket
        self.label = f"runner-{proc.pid}"
        self._tail: list[str] = []
        self._pump = asyncio.create_task(self._pump_output())

    @classmethod
    async def spawn(
        cls, socket_dir: Path, config: RunnerConfig, env: Mapping[str, str] | None = None
    ) -> RunnerProcess:
        """Start a runner with its config (and ``env`` added) and wait until it answers on its socket."""
        socket_dir.mkdir(parents=True, exist_ok=True)
        socket = socket_dir / f"r-{uuid.uuid4().hex[:12]}.sock"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hubserve.runners.child.main",
            "--socket",
            str(socket),
            "--config",
            config.to_json(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {}), **RUNNER_ENV},
        )
        runner = cls(proc, socket)
        try:
            await runner._wait_ready()
        except BaseException:  # a start given up (a shutdown cancels it) leaves no process behind
            await runner.stop(grace_s=0)
            raise
        return runner

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def rss_bytes(self) -> int:
        """Resident memory of the process."""
        return rss_bytes(self.proc.pid)

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.returncode is None

    def tail(self) -> str:
        """The last lines it printed (for error messages)."""
        return "\n".join(self._tail[-20:])

    async def wait(self) -> int:
        """Wait for the process to exit; its exit code."""
        return await self.proc.wait()

    async def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after the grace period."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), grace_s)
            except TimeoutError:
                self.kill()
                await self.proc.wait()
        await self._cleanup()

    def kill(self) -> None:
        """SIGKILL at once."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def _cleanup(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._pump, 2)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        transport = httpx.AsyncHTTPTransport(uds=str(self.socket), verify=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://runner", timeout=2) as client:
            while time.monotonic() < deadline:
                if not self.alive:
                    await self._cleanup()
                    raise ModelLoadFailed(f"The runner process exited during start-up:\n{self.tail()}")
                if self.socket.exists():
                    try:
                        if (await client.get(HEALTH)).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                await asyncio.sleep(0.05)
        self.kill()
        raise ModelLoadFailed("The runner process did not start in time")

    async def _pump_output(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._tail = [*self._tail[-50:], line]
            log.info("[%s] %s", self.label, line)
