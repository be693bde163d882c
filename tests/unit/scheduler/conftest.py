"""The scheduler's tests run on a loop whose clock jumps ahead whenever every task waits (looptime).

The batcher and the scheduler time their work with the loop's clock, so their timing rules are checked
exactly, with no real waits and no margins for a busy machine.
"""

from __future__ import annotations

from typing import Any

import looptime
import pytest


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return "asyncio", {"loop_factory": looptime.new_event_loop}
