"""LoadHistory: measured load times per model (median of the last few), kept in a JSON file."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from pathlib import Path

from hubserve.scheduler.policy import guess_load_s

KEEP = 5  # samples per model: the median shrugs off one slow start (a busy machine, a first load)


class LoadHistory:
    """Learns how long each model takes to load."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._samples: dict[str, list[float]] = {}
        if path is not None and path.is_file():
            with contextlib.suppress(ValueError, OSError, TypeError):
                data = json.loads(path.read_text())
                self._samples = {str(k): [float(x) for x in v][-KEEP:] for k, v in data.items()}

    def estimate(self, model: str, size_bytes: int) -> float:
        """Expected load seconds: learned, else guessed from size."""
        samples = self._samples.get(model)
        return statistics.median(samples) if samples else guess_load_s(size_bytes)

    def record(self, model: str, seconds: float) -> None:
        """Add one measured load."""
        self._samples[model] = [*self._samples.get(model, []), seconds][-KEEP:]
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(self._path.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self._samples, indent=1, sort_keys=True))
            os.replace(tmp, self._path)
