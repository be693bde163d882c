"""Pure scheduling decisions: which idle models to evict, how long loads take, how much memory they need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Before a model has loaded once, its load time is guessed from its size.
GUESS_BASE_S = 2.0
GUESS_BYTES_PER_S = 200 * 1024 * 1024
# A runner process costs this much before any weights (interpreter, numpy, onnxruntime, tokenizers).
RUNNER_OVERHEAD_BYTES = 350 * 1024 * 1024
WEIGHT_FACTOR = 1.3


@dataclass(frozen=True)
class Resident:
    """What eviction needs to know about one loaded model."""

    model: str
    bytes: int
    busy: bool
    pinned: bool
    last_used: float


def pick_victims(residents: Sequence[Resident], need: int, budget: int) -> list[str] | None:
    """Idle, unpinned models to stop, least recently used first, so that ``need`` fits; None if it cannot."""
    used = sum(r.bytes for r in residents)
    free = budget - used
    if free >= need:
        return []
    victims = []
    for resident in sorted(residents, key=lambda r: r.last_used):
        if resident.busy or resident.pinned:
            continue
        victims.append(resident.model)
        free += resident.bytes
        if free >= need:
            return victims
    return None


def estimate_memory(size_bytes: int) -> int:
    """Memory a model's runner will hold before it has been measured."""
    return int(size_bytes * WEIGHT_FACTOR) + RUNNER_OVERHEAD_BYTES


def guess_load_s(size_bytes: int) -> float:
    """A first guess at load time, from the size of the weights."""
    return GUESS_BASE_S + size_bytes / GUESS_BYTES_PER_S
