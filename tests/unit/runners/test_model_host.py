"""ModelHost: tokenizing ahead of the model must not change any answer, whatever runs beside it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubserve.config import Settings
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.runners.model_host import ModelHost
from hubserve.tasks.base import CallContext

pytestmark = pytest.mark.anyio
MODEL = "test/tiny-embed"
TEXTS = [("pizza " * (i % 9 + 1)) + f"number {i}" for i in range(40)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_concurrent_calls_of_two_tasks_get_the_answers_they_get_alone(hub: HubStore) -> None:
    host = ModelHost(Settings.from_env(home=Path(hub.root).parent), hub)
    await host.load(ModelId.parse(MODEL))
    ctx = CallContext()
    embed_calls = [
        {"inputs": TEXTS[i : i + 10], "truncate": True, "truncation_direction": side}
        for i, side in zip(range(0, 40, 10), ["left", "right", "left", "right"], strict=True)
    ]
    similarity = {"inputs": {"source_sentence": TEXTS[0], "sentences": TEXTS[1:6]}}

    async def one(task: str, envelope: dict[str, Any]) -> Any:
        return await host.encode(task, envelope, ctx)

    alone = [await one("feature-extraction", e) for e in embed_calls] + [
        await one("sentence-similarity", similarity)
    ]
    together = await asyncio.gather(
        *(one("feature-extraction", e) for e in embed_calls), one("sentence-similarity", similarity)
    )
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    host.close()
