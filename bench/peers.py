"""Where the benchmarks' peers live: each in its own venv, made by ``scripts/bench-peers.sh``."""

from __future__ import annotations

import os
from pathlib import Path

PEERS_ENV = "HUBSERVE_BENCH_PEERS"


def peers_root() -> Path:
    """The folder of the peers' venvs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get(PEERS_ENV) or cache / "hubserve" / "bench-peers")


def peer_bin(peer: str, program: str = "python") -> Path:
    """A program of one peer's venv; a clear error when the venv is not there."""
    path = peers_root() / peer / "bin" / program
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: run scripts/bench-peers.sh (make bench does) to install the peers"
        )
    return path
