"""Durations as people write them: ``90``, ``30s``, ``15m``, ``24h``, ``7d``."""

from __future__ import annotations

import math

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(text: str) -> int:
    """Whole seconds of a duration; ValueError, naming the text, for anything else or a non-positive one."""
    raw = text.strip().lower()
    unit = UNITS.get(raw[-1:])
    number = raw[:-1] if unit else raw
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 15m, 24h or 7d") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"A duration must be a positive number of seconds, got {text!r}")
    return round(seconds)
