"""Stop work whose client went away: a long call (an image, a transcript) is cancelled when it disconnects.

Starlette does not cancel a handler whose client hangs up while the answer is computed; this polls the
connection beside the work and cancels the work (and with it the runner's call) at a hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from hubserve.errors import RequestCancelled

T = TypeVar("T")
POLL_S = 0.25


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The work's result; RequestCancelled (after cancelling it) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                raise RequestCancelled("The client disconnected; its call was stopped")
    finally:
        if not task.done():
            task.cancel()
