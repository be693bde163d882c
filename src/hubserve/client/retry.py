"""When to try a call again, and after how long: a pure decision, so the sync and async shells share it.

The server says how long to wait: ``Retry-After`` on a 429, ``estimated_time`` on a 503 while a model loads.
Connection errors and 502/504 back off exponentially with full jitter. No wait passes the policy's total
deadline, and a call the server may have started (a non-idempotent one that reached it) is not sent again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from hubserve.client.errors import HTTPError, ModelLoadingError, OverloadedError, RateLimitError, ServerError

log = logging.getLogger("hubserve.client")
RETRIED_STATUSES = frozenset({502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` sends, all within ``deadline_s`` of the first."""

    max_attempts: int = 10
    deadline_s: float = 300.0
    backoff_s: float = 0.5  # the first backoff of connection errors and 502/504; doubles each time
    max_backoff_s: float = 30.0
    on_retry: Callable[[int, float, Exception], None] | None = None  # (attempt, wait, error)
    jitter: Callable[[float], float] = field(default=lambda high: random.uniform(0.0, high))


NO_RETRY = RetryPolicy(max_attempts=1)


def wait_before_retry(
    policy: RetryPolicy, attempt: int, error: Exception, elapsed_s: float, *, resendable: bool = True
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to raise ``error`` now.

    ``attempt`` counts the sends so far (1 after the first); ``elapsed_s`` is the time since the first;
    ``resendable`` is False for a call the server may have started (a POST that reached it and failed
    there), which only a refusal it answered before starting (429, 503) may repeat.
    """
    if attempt >= policy.max_attempts:
        return None
    ceiling = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
    wait = _server_wait(error, ceiling)
    if wait is None:
        if not resendable or not _transient(error):
            return None
        wait = policy.jitter(ceiling)
    if elapsed_s + wait > policy.deadline_s:
        return None
    return wait


def note_retry(policy: RetryPolicy, attempt: int, wait: float, error: Exception) -> None:
    """Log the wait, and tell the policy's callback."""
    log.info("attempt %d failed (%s); trying again in %.2fs", attempt, error, wait)
    if policy.on_retry is not None:
        policy.on_retry(attempt, wait, error)


def _server_wait(error: Exception, backoff: float) -> float | None:
    """The wait the server asked for, when it refused before starting any work.

    A load can outlast its estimate (the first load of a model exports it, and an estimate counts down
    to nothing): the wait is then the server's ``Retry-After``, growing as the backoff does.
    """
    if isinstance(error, ModelLoadingError):
        floor = max(_seconds(error.headers.get("retry-after", "")) or 0.0, backoff)
        return max(error.body_estimate or 0.0, floor)
    if isinstance(error, RateLimitError | OverloadedError):
        return max(error.retry_after or 1.0, 0.0)
    if type(error) is ServerError and error.status == 503 and "retry-after" in error.headers:
        return _seconds(error.headers["retry-after"])  # a 503 of no known kind (a proxy's) that says when
    return None


def _seconds(value: str) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _transient(error: Exception) -> bool:
    """A connection that failed or a gateway error: the same call may well work a moment later."""
    if isinstance(error, ServerError):
        return error.status in RETRIED_STATUSES
    if isinstance(error, HTTPError):
        return False
    return isinstance(error, ConnectionError | TimeoutError) or type(error).__name__ in TRANSPORT_ERRORS


# httpx's transport errors, named so this module needs no httpx to decide.
TRANSPORT_ERRORS = frozenset(
    {
        "ConnectError",
        "ReadError",
        "RemoteProtocolError",
        "ConnectTimeout",
        "WriteError",
        "ReadTimeout",
        "PoolTimeout",
    }
)
