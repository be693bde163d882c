from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def reference(tiny_dirs: dict[str, Path]) -> Any:
    """transformers' own pipeline on a tiny model: the reference our tasks must agree with."""
    from transformers import pipeline

    cache: dict[tuple[str, str], Any] = {}

    def make(task: str, kind: str) -> Any:
        if (task, kind) not in cache:
            cache[(task, kind)] = pipeline(task, model=str(tiny_dirs[kind]), device="cpu")
        return cache[(task, kind)]

    return make
