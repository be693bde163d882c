"""Build a runtime's LoadSpec from a hub repo."""

from __future__ import annotations

from hubserve.hub.detect import read_json
from hubserve.hub.store import HubStore
from hubserve.runtimes.base import Head, LoadSpec
from hubserve.types.names import ModelId


def build_spec(store: HubStore, model_id: ModelId, head: Head, threads: int, split: str = "rows") -> LoadSpec:
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
        split=split,
        cache_dir=store.cache_dir(model_id, "onnx", manifest.revision),
        config=read_json(files / "config.json"),
    )
