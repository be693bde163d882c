"""LoadHistory: measured cold-start times per model, smoothed, kept in a small JSON file across restarts."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from hubserve.scheduler.policy import guess_load_s

SMOOTHING = 0.5  # weight of the newest measurement


class LoadHistory:
    """Learns how long each model takes to become ready."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seconds: dict[str, float] = {}
        if path is not None and path.is_file():
            with contextlib.suppress(ValueError, OSError):
                data = json.loads(path.read_text())
                self._seconds = {str(k): float(v) for k, v in data.items()}

    def estimate(self, model: str, size_bytes: int) -> float:
        """Expected seconds from start to ready: learned, else guessed from size."""
        return self._seconds.get(model, guess_load_s(size_bytes))

    def record(self, model: str, seconds: float) -> None:
        """Fold one measured cold start into the estimate."""
        old = self._seconds.get(model)
        self._seconds[model] = seconds if old is None else SMOOTHING * seconds + (1 - SMOOTHING) * old
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(self._path.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self._seconds, indent=1, sort_keys=True))
            os.replace(tmp, self._path)
