"""ModelPool: loads each (model, head) once on first use and runs its compute in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from hubserve.config import Settings
from hubserve.errors import HubserveError, ModelLoadFailed, TaskNotSupported
from hubserve.hub.detect import read_json
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.runtimes.base import Head, LoadedEncoder, LoadSpec
from hubserve.runtimes.generation.loader import GenerationSpec, LoadedGenerator, load_generator
from hubserve.runtimes.registry import load_encoder
from hubserve.tasks.base import Task

log = logging.getLogger(__name__)
T = TypeVar("T")
Loader = Callable[[LoadSpec, str], LoadedEncoder]


@dataclass
class _Slot:
    """One (model revision, head): its load lock and its encoder once loaded."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    encoder: LoadedEncoder | None = None
    load_s: float = 0.0


class ModelPool:
    """In-process residency: load lazily, share one load between concurrent first requests."""

    def __init__(self, store: HubStore, settings: Settings, *, loader: Loader = load_encoder) -> None:
        self._store = store
        self._settings = settings
        self._runtime = settings.runtime
        self._threads = settings.threads
        self._loader = loader
        self._slots: dict[tuple[str, str, Head], _Slot] = {}
        self._generators: dict[tuple[str, str], LoadedGenerator] = {}
        self._generator_locks: dict[tuple[str, str], asyncio.Lock] = {}
        # One forward at a time: each already uses every allowed core, and more would oversubscribe them.
        self._compute = anyio.CapacityLimiter(1)

    async def run(self, model_id: ModelId, task: Task[Any], request: Any) -> Any:
        """Run a validated request of ``task`` on the model, loading it first if needed."""
        manifest = self._store.get(model_id)
        head = task.head_for(manifest)
        slot = self._slots.setdefault((str(model_id), manifest.revision, head), _Slot())
        encoder = await self._ensure_loaded(slot, model_id, head)
        return await anyio.to_thread.run_sync(task.run, encoder, request, limiter=self._compute)

    async def generator(self, model_id: ModelId) -> LoadedGenerator:
        """The text-generation engine of a model, loaded on first use."""
        manifest = self._store.get(model_id)
        if "text-generation" not in manifest.tasks:
            raise TaskNotSupported(
                f"Model {model_id} does not serve text-generation; it serves: {', '.join(manifest.tasks)}"
            )
        key = (str(model_id), manifest.revision)
        if key in self._generators:
            return self._generators[key]
        async with self._generator_locks.setdefault(key, asyncio.Lock()):
            if key not in self._generators:
                s = self._settings
                spec = GenerationSpec(
                    model_id=str(model_id),
                    files_dir=self._store.files_dir(model_id),
                    fmt=manifest.format,
                    threads=self._threads,
                    max_slots=s.gen_slots,
                    context_per_slot=s.gen_context_tokens,
                    max_queue=s.max_queued_requests,
                )
                started = time.perf_counter()
                try:
                    self._generators[key] = await anyio.to_thread.run_sync(load_generator, spec)
                except HubserveError:
                    raise
                except Exception as exc:  # a third-party loader failure must not look like our bug
                    raise ModelLoadFailed(f"Could not load {model_id}: {type(exc).__name__}: {exc}") from exc
                log.info("loaded %s for text-generation in %.2fs", model_id, time.perf_counter() - started)
        return self._generators[key]

    async def close(self) -> None:
        """Stop every generation engine (their worker threads hold the weights)."""
        generators = list(self._generators.values())
        self._generators.clear()
        for generator in generators:
            await anyio.to_thread.run_sync(generator.close)

    def loaded(self) -> list[dict[str, Any]]:
        """What is resident now: encoders (model, head, runtime) and generation engines with their load."""
        encoders = [
            {
                "model": key[0],
                "revision": key[1],
                "head": key[2],
                "runtime": s.encoder.runtime,
                "load_s": s.load_s,
            }
            for key, s in self._slots.items()
            if s.encoder is not None
        ]
        generators = []
        for (model, revision), generator in self._generators.items():
            active, waiting = generator.engine.load
            generators.append(
                {
                    "model": model,
                    "revision": revision,
                    "task": "text-generation",
                    "runtime": generator.backend.name,
                    "active": active,
                    "waiting": waiting,
                }
            )
        return encoders + generators

    async def _ensure_loaded(self, slot: _Slot, model_id: ModelId, head: Head) -> LoadedEncoder:
        if slot.encoder is not None:
            return slot.encoder
        async with slot.lock:
            if slot.encoder is None:
                spec = build_spec(self._store, model_id, head, self._threads)
                started = time.perf_counter()
                try:
                    slot.encoder = await anyio.to_thread.run_sync(self._loader, spec, self._runtime)
                except HubserveError:
                    raise
                except Exception as exc:  # a third-party loader failure must not look like our bug
                    raise ModelLoadFailed(f"Could not load {model_id}: {type(exc).__name__}: {exc}") from exc
                slot.load_s = time.perf_counter() - started
                log.info("loaded %s (%s) on %s in %.2fs", model_id, head, slot.encoder.runtime, slot.load_s)
        return slot.encoder


def build_spec(store: HubStore, model_id: ModelId, head: Head, threads: int) -> LoadSpec:
    """What a runtime needs to load one head of one model from the hub."""
    manifest = store.get(model_id)
    files = store.files_dir(model_id)
    return LoadSpec(
        model_id=str(model_id),
        revision=manifest.revision,
        files_dir=files,
        fmt=manifest.format,
        head=head,
        threads=threads,
        cache_dir=store.cache_dir(model_id, "onnx", manifest.revision),
        config=read_json(files / "config.json"),
    )
