"""AliasTable: names that stand for models in the hub, so code naming a Hub model is served by a local one.

The table is one JSON file beside the hub's models (``aliases.json``), written atomically. An alias
name is ``namespace/name`` or a bare ``name`` (the Hub's old canonical form); its target is a model or
another alias. Like manifests, the file is read again at most once every ``recheck_s`` seconds, so a
change made by another process (the CLI) is seen within that time and one made here at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from hubserve.errors import AliasLoop, Conflict, HubError, ModelNotFound
from hubserve.types.names import check_reference

ALIASES_NAME = "aliases.json"
MAX_CHAIN = 8


class AliasTable:
    """Read and change the aliases of one hub."""

    def __init__(
        self, path: Path, *, recheck_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._recheck_s = recheck_s
        self._clock = clock
        self._table: dict[str, str] = {}
        self._identity: tuple[int, int] | None = None
        self._checked = float("-inf")

    def all(self) -> dict[str, str]:
        """Every alias and its target, sorted by alias."""
        self._refresh()
        return dict(self._table)

    def target_of(self, name: str) -> str | None:
        """What ``name`` points at directly, or None when it is no alias."""
        self._refresh()
        return self._table.get(name)

    def follow(self, name: str) -> str:
        """The model id at the end of ``name``'s chain; ``name`` itself when it is no alias."""
        self._refresh()
        return _follow(self._table, name)

    def add(self, name: str, target: str, *, is_model: Callable[[str], bool], replace: bool = False) -> None:
        """Make ``name`` stand for ``target``; refuse shadowing a model, a missing target, or a loop."""
        check_reference(name)
        check_reference(target)
        if is_model(name):
            raise Conflict(f"{name} is a model in the hub; an alias may not shadow it")
        table = self._read()
        if name in table and not replace:
            raise Conflict(f"Alias {name} exists (-> {table[name]}); remove it first or pass replace")
        if target not in table and not is_model(target):
            raise ModelNotFound(f"Alias target {target} is neither a model in the hub nor an alias")
        table[name] = target
        _follow(table, name)  # the new chain must end at a model before anything is written
        self._write(table)

    def remove(self, name: str) -> str:
        """Delete an alias and return its target; ModelNotFound when there is none of that name."""
        table = self._read()
        if name not in table:
            raise ModelNotFound(f"No alias named {name}")
        target = table.pop(name)
        self._write(table)
        return target

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._checked < self._recheck_s:
            return
        self._checked = now
        identity = _identity(self.path)
        if identity != self._identity:
            self._table, self._identity = self._read(), identity

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise HubError(f"Could not read the alias table {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise HubError(f"The alias table {self.path} must map alias names to model ids")
        return {str(k): v for k, v in data.items()}

    def _write(self, table: dict[str, str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(dict(sorted(table.items())), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._table, self._identity, self._checked = dict(table), _identity(self.path), self._clock()


def _follow(table: dict[str, str], name: str) -> str:
    seen = [name]
    while seen[-1] in table:
        seen.append(table[seen[-1]])
        if len(seen) > MAX_CHAIN + 1 or seen[-1] in seen[:-1]:
            raise AliasLoop(f"Alias {name} does not lead to a model: {' -> '.join(seen)}")
    return seen[-1]


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)
