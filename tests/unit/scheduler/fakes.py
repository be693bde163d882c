"""Fakes for the scheduler's seams: a manual clock, runners that only pretend, a starter that counts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hubserve.errors import ModelLoadFailed, RunnerCrashed
from hubserve.hub.store import HubStore
from hubserve.protocol import EncodeCall, RunnerOptions
from hubserve.types.names import ModelId

MB = 1 << 20


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeRunner:
    generation = None

    def __init__(self, model: str, memory: int) -> None:
        self.model = model
        self.memory = memory
        self.load_s = 0.0
        self.exited = asyncio.Event()
        self.exit_code: int | None = None
        self.calls = 0
        self.stop_s = 0.0  # how long a stop takes, on the loop's clock
        self.hung = False  # answers nothing, health checks included (a SIGSTOPped process)
        self.health_checks = 0

    async def encode(self, call: EncodeCall) -> Any:
        if self.exited.is_set():  # as the real client: a runner already gone never saw the call
            raise RunnerCrashed(f"the process serving {self.model} is gone", unsent=True)
        self.calls += 1
        return {"model": self.model, "inputs": call.inputs}

    async def memory_bytes(self) -> int:
        return self.memory

    async def healthy(self) -> bool:
        self.health_checks += 1
        if self.hung:
            await asyncio.sleep(5.0)  # the client's health deadline
            return False
        return not self.exited.is_set()

    async def progress(self) -> dict[str, Any] | None:
        return None

    async def stopped(self) -> int:
        await self.exited.wait()
        return self.exit_code or 0

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_s)
        if not self.exited.is_set():
            self.exit_code = 0
        self.exited.set()

    def kill(self) -> None:
        self.exit_code = -9
        self.exited.set()


class Starter:
    """Starts FakeRunners; each start takes ``load_s`` of the manual clock and can be made to fail."""

    def __init__(self, clock: ManualClock, memory: int = 400 * MB, load_s: float = 3.0) -> None:
        self.clock = clock
        self.memory = memory
        self.load_s = load_s
        self.started: list[str] = []
        self.options: list[RunnerOptions | None] = []  # each start's env and threads
        self.runners: dict[str, FakeRunner] = {}
        self.fail_next = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, model: str, options: RunnerOptions | None = None) -> FakeRunner:
        self.started.append(model)
        self.options.append(options)
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(self.load_s)
        if self.fail_next:
            self.fail_next = False
            raise ModelLoadFailed(f"weights of {model} are corrupt")
        runner = FakeRunner(model, self.memory)
        runner.load_s = self.load_s
        self.runners[model] = runner
        return runner


def make_store(root: Path, sizes: dict[str, int]) -> HubStore:
    """A hub whose repos have files of the given sizes (content does not matter to the scheduler)."""
    store = HubStore(root)
    for model, size in sizes.items():
        blob = root.parent / f"{model.replace('/', '_')}.bin"
        blob.write_bytes(b"\0" * size)
        store.add(
            ModelId.parse(model),
            [(blob, "model.onnx")],
            tasks=["feature-extraction"],
            fmt="onnx",
            source="test",
            show_progress=False,
        )
    return store
