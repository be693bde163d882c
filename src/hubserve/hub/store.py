"""HubStore: list, read, add and remove repos on disk; every write is staged and renamed into place.

Layout under the hub root::

    aliases.json                                 alias name -> model id (hub.aliases)
    models/<namespace>/<name>/manifest.json      written last, inside the staged folder
    models/<namespace>/<name>/files/...          the repo's files
    cache/<kind>/<namespace>/<name>/<revision>/  derived artefacts (e.g. ONNX exports)
    .staging/<random>/                           imports in progress; never read as models
"""

from __future__ import annotations

import builtins
import contextlib
import glob
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubserve.errors import AliasLoop, HubError, ModelExists, ModelNotFound
from hubserve.hub.aliases import ALIASES_NAME, AliasTable
from hubserve.hub.copying import copy_files
from hubserve.hub.detect import read_json
from hubserve.hub.resolve import candidates
from hubserve.types.manifest import MANIFEST_NAME, Manifest, ModelFormat
from hubserve.types.names import ModelId, Resolved

_STALE_STAGING_S = 6 * 3600


@dataclass
class _Parsed:
    """A manifest as read, the identity of its file then, and when that identity was last checked."""

    path: str
    identity: tuple[int, int]
    manifest: Manifest
    checked: float


class HubStore:
    """The model store rooted at one folder.

    ``recheck_s``: how long a manifest read is trusted before its file is looked at again. Writes
    through this store take effect at once; those of another process (the CLI) within that time.
    """

    def __init__(
        self, root: Path, *, recheck_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = root
        self._models = root / "models"
        self._staging = root / ".staging"
        self._cache = root / "cache"
        self._recheck_s = recheck_s
        self._clock = clock
        self._parsed: dict[ModelId, _Parsed] = {}
        self.aliases = AliasTable(root / ALIASES_NAME, recheck_s=recheck_s, clock=clock)
        for folder in (self._models, self._staging, self._cache):
            folder.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_staging()

    def list(self) -> builtins.list[Manifest]:
        """Every complete repo in the hub, sorted by id."""
        manifests = []
        for path in sorted(self._models.glob(f"*/*/{MANIFEST_NAME}")):
            manifests.append(Manifest.model_validate_json(path.read_text()))
        return manifests

    def ids_named(self, name: str) -> builtins.list[ModelId]:
        """The ids of the repos called ``name``, in any namespace."""
        found = self._models.glob(f"*/{glob.escape(name)}/{MANIFEST_NAME}")
        return sorted(ModelId(path.parent.parent.name, name) for path in found)

    def holds(self, text: str) -> bool:
        """Whether ``text`` is the id of a model in the hub (an alias is not)."""
        return text.count("/") == 1 and self.exists(ModelId.parse(text))

    def candidates(self, text: str) -> builtins.list[Resolved]:
        """Every model ``text`` (an id, an alias or a bare name) may mean (``hub.resolve.candidates``)."""
        return candidates(self, text)

    def aliased(self) -> builtins.list[tuple[str, str]]:
        """(alias, the model it leads to) for every alias that leads to one; loops lead nowhere."""
        out = []
        for alias in self.aliases.all():
            with contextlib.suppress(AliasLoop):
                out.append((alias, self.aliases.follow(alias)))
        return out

    def model_config(self, model_id: ModelId) -> dict[str, Any]:
        """The repo's ``config.json`` ({} when it has none)."""
        return read_json(self.files_dir(model_id) / "config.json")

    def add_alias(self, name: str, target: str, *, replace: bool = False) -> None:
        """Make ``name`` stand for ``target``, a model here or another alias (``AliasTable.add``)."""
        self.aliases.add(name, target, is_model=self.holds, replace=replace)

    def exists(self, model_id: ModelId) -> bool:
        """Whether a complete repo with this id is in the hub."""
        return (self._repo_dir(model_id) / MANIFEST_NAME).is_file()

    def get(self, model_id: ModelId) -> Manifest:
        """The manifest of one repo; ModelNotFound if it is not there.

        Every request reads one, so parsed manifests are kept per file identity (inode, mtime), and that
        identity is checked again once ``recheck_s`` has passed: a repo replaced on disk (import
        --replace, rm) gets a new manifest file. The stat was ~7% of the gateway's per-request CPU.
        """
        cached = self._parsed.get(model_id)
        now = self._clock()
        if cached is not None and now - cached.checked < self._recheck_s:
            return cached.manifest
        # A plain string path and os.stat: building the Path on each call cost more than the stat.
        path = cached.path if cached is not None else str(self._repo_dir(model_id) / MANIFEST_NAME)
        try:
            stat = os.stat(path)
            identity = (stat.st_ino, stat.st_mtime_ns)
            if cached is not None and cached.identity == identity:
                cached.checked = now
                return cached.manifest
            with open(path, encoding="utf-8") as handle:
                manifest = Manifest.model_validate_json(handle.read())
        except FileNotFoundError:
            self._parsed.pop(model_id, None)
            raise ModelNotFound(f"Model {model_id} does not exist") from None
        self._parsed[model_id] = _Parsed(path, identity, manifest, now)
        return manifest

    def files_dir(self, model_id: ModelId) -> Path:
        """The folder holding the repo's files."""
        self.get(model_id)
        return self._repo_dir(model_id) / "files"

    def cache_dir(self, model_id: ModelId, kind: str, revision: str) -> Path:
        """A folder for artefacts derived from one revision of a repo (created on demand)."""
        folder = self._cache / kind / model_id.namespace / model_id.name / revision
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def add(
        self,
        model_id: ModelId,
        sources: Sequence[tuple[Path, str]],
        *,
        tasks: builtins.list[str],
        fmt: ModelFormat,
        source: str,
        library: str = "transformers",
        license: str | None = None,
        replace: bool = False,
        show_progress: bool | None = None,
    ) -> Manifest:
        """Copy files into a new repo atomically: either the whole repo appears, or nothing does."""
        if self.exists(model_id) and not replace:
            raise ModelExists(f"Model {model_id} already exists; remove it first or pass replace")
        if self.aliases.target_of(str(model_id)) is not None:
            raise ModelExists(f"{model_id} is an alias; remove it first (hubserve alias rm {model_id})")
        with self._staged() as stage:
            entries = copy_files(
                sources, stage / "files", label=f"importing {model_id}", show_progress=show_progress
            )
            manifest = Manifest(
                id=str(model_id),
                tasks=tasks,
                format=fmt,
                library=library,
                license=license,
                source=source,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                files=entries,
            )
            _write_atomic(stage / MANIFEST_NAME, manifest.model_dump_json(indent=2))
            self._swap_in(stage, model_id)
        self._parsed.pop(model_id, None)
        return manifest

    def remove(self, model_id: ModelId) -> None:
        """Delete a repo and its cached artefacts; ModelNotFound if it is not there."""
        self.get(model_id)
        trash = self._staging / f"rm-{uuid.uuid4().hex}"
        os.replace(self._repo_dir(model_id), trash)
        self._parsed.pop(model_id, None)
        shutil.rmtree(trash, ignore_errors=True)
        for kind_dir in self._cache.iterdir():
            shutil.rmtree(kind_dir / model_id.namespace / model_id.name, ignore_errors=True)

    def _repo_dir(self, model_id: ModelId) -> Path:
        return self._models / model_id.namespace / model_id.name

    @contextmanager
    def _staged(self) -> Iterator[Path]:
        stage = self._staging / uuid.uuid4().hex
        stage.mkdir()
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _swap_in(self, stage: Path, model_id: ModelId) -> None:
        final = self._repo_dir(model_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():
            old = self._staging / f"old-{uuid.uuid4().hex}"
            os.replace(final, old)
        try:
            os.replace(stage, final)
        except OSError as exc:
            if old is not None:
                os.replace(old, final)
            raise HubError(f"Could not move {model_id} into place: {exc}") from exc
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _sweep_stale_staging(self) -> None:
        cutoff = time.time() - _STALE_STAGING_S
        for entry in self._staging.iterdir():
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
