"""Send one request under a retry policy: the sync and async shells over httpx around ``retry``'s rule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from hubserve.client.errors import APIConnectionError, APITimeoutError, error_from_answer
from hubserve.client.retry import RetryPolicy, note_retry, wait_before_retry


def send(
    client: httpx.Client,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    stream: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> httpx.Response:
    """The first successful answer; the last error once the policy gives up.

    With ``stream`` the answer comes back as soon as its headers do, its body unread: a stream is retried
    only before its first byte, and the caller closes it.
    """
    started, attempt = clock(), 0
    while True:
        attempt += 1
        try:
            response = client.send(request, stream=stream)
        except httpx.TransportError as exc:
            error: Exception = exc
            resendable = idempotent or isinstance(
                exc, httpx.ConnectError
            )  # a refused connection sent nothing
        else:
            if response.status_code < 400:
                return response
            try:
                error = error_from_answer(response.status_code, response.headers, response.read(), response)
            finally:
                response.close()
            resendable = idempotent
        wait = wait_before_retry(policy, attempt, error, clock() - started, resendable=resendable)
        if wait is None:
            raise _public(error)
        note_retry(policy, attempt, wait, error)
        sleep(wait)


async def asend(
    client: httpx.AsyncClient,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    stream: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> httpx.Response:
    """``send`` for an async client."""
    started, attempt = clock(), 0
    while True:
        attempt += 1
        try:
            response = await client.send(request, stream=stream)
        except httpx.TransportError as exc:
            error: Exception = exc
            resendable = idempotent or isinstance(exc, httpx.ConnectError)
        else:
            if response.status_code < 400:
                return response
            try:
                error = error_from_answer(
                    response.status_code, response.headers, await response.aread(), response
                )
            finally:
                await response.aclose()
            resendable = idempotent
        wait = wait_before_retry(policy, attempt, error, clock() - started, resendable=resendable)
        if wait is None:
            raise _public(error)
        note_retry(policy, attempt, wait, error)
        await sleep(wait)


def _public(error: Exception) -> Exception:
    """A transport failure as the SDK's own error (httpx's stays its ``__cause__``)."""
    if isinstance(error, httpx.TimeoutException):
        wrapped: Exception = APITimeoutError(f"No answer in time: {error}")
    elif isinstance(error, httpx.TransportError):
        wrapped = APIConnectionError(f"Could not reach the server: {error!r}")
    else:
        return error
    wrapped.__cause__ = error
    return wrapped
