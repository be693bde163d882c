"""Run a task directly on a loaded encoder, the way the pool does, without a server."""

from __future__ import annotations

from functools import cache
from typing import Any

from hubserve.hub.store import HubStore
from hubserve.runtimes.base import Head, LoadedEncoder
from hubserve.runtimes.registry import load_encoder
from hubserve.runtimes.specs import build_spec
from hubserve.tasks.base import CallContext, Envelope
from hubserve.tasks.registry import TASKS
from hubserve.types.names import ModelId


@cache
def _encoder(root: str, model: str, head: Head, runtime: str) -> LoadedEncoder:
    from pathlib import Path

    store = HubStore(Path(root))
    return load_encoder(build_spec(store, ModelId.parse(model), head, threads=1), runtime)


def encoder(store: HubStore, model: str, head: Head, runtime: str = "onnx") -> LoadedEncoder:
    """A loaded encoder, cached across tests."""
    return _encoder(str(store.root), model, head, runtime)


def run_task(
    store: HubStore,
    model: str,
    task: str,
    inputs: Any,
    parameters: dict[str, Any] | None = None,
    runtime: str = "onnx",
    **root: Any,
) -> Any:
    """Validate and run one request of ``task`` on ``model``."""
    impl = TASKS[task]
    head = impl.head_for(store.get(ModelId.parse(model)))
    prepared = impl.prepare(Envelope(inputs=inputs, parameters=parameters, **root), CallContext())
    return impl.run(encoder(store, model, head, runtime), prepared)
