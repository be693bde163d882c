"""The SDK's retries on scripted answers (httpx's MockTransport): attempts, waits, the deadline kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

from hubserve.client.errors import (
    APIConnectionError,
    HTTPError,
    ModelLoadingError,
    ModelNotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
    error_from_answer,
)
from hubserve.client.retry import RetryPolicy
from hubserve.client.sending import asend, send

URL = "http://hubserve.test/models/org/m"


class Clock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def script(*answers: Any) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that gives these answers in turn: (status, headers, json) or an exception to raise."""
    seen: list[httpx.Request] = []
    queue: Iterator[Any] = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer
        return httpx.Response(status, headers=headers, json=body)

    return httpx.MockTransport(handler), seen


LOADING = (503, {"X-Error-Type": "model_loading"}, {"error": "Model org/m is loading", "estimated_time": 3.5})
LIMITED = (
    429,
    {"X-Error-Type": "rate_limited", "Retry-After": "2", "x-ratelimit-limit": "10"},
    {"error": "slow"},
)
OK = (200, {}, [{"label": "POSITIVE", "score": 0.9}])
NO_JITTER = {"jitter": lambda high: high}


def run(*answers: Any, policy: RetryPolicy | None = None, idempotent: bool = False) -> Any:
    transport, seen = script(*answers)
    clock = Clock()
    with httpx.Client(transport=transport) as client:
        request = client.build_request("POST", URL, json={"inputs": "hi"})
        try:
            result: Any = send(
                client,
                request,
                policy or RetryPolicy(**NO_JITTER),
                idempotent=idempotent,
                sleep=clock.sleep,
                clock=clock,
            ).json()
        except Exception as exc:
            result = exc
    return result, len(seen), clock.waits


def test_a_loading_model_is_waited_for_as_long_as_the_server_estimates() -> None:
    result, attempts, waits = run(LOADING, LOADING, OK)
    assert result == OK[2] and attempts == 3 and waits == [3.5, 3.5]


def test_a_rate_limit_waits_for_retry_after() -> None:
    result, attempts, waits = run(LIMITED, OK)
    assert result == OK[2] and attempts == 2 and waits == [2.0]


def test_no_wait_passes_the_deadline_and_the_last_error_is_raised() -> None:
    late = (429, {"X-Error-Type": "rate_limited", "Retry-After": "100"}, {"error": "slow"})
    result, attempts, waits = run(late, OK, policy=RetryPolicy(deadline_s=50, **NO_JITTER))
    assert isinstance(result, RateLimitError) and result.retry_after == 100.0
    assert attempts == 1 and waits == []


def test_attempts_are_bounded() -> None:
    result, attempts, _ = run(LOADING, LOADING, LOADING, OK, policy=RetryPolicy(max_attempts=3, **NO_JITTER))
    assert isinstance(result, ModelLoadingError) and attempts == 3


def test_connection_errors_and_gateway_errors_back_off_exponentially_when_safe() -> None:
    reset = httpx.ReadError("connection reset by peer")
    gateway = (502, {"X-Error-Type": "runner_crashed"}, {"error": "crashed"})
    result, attempts, waits = run(reset, gateway, reset, OK, idempotent=True)
    assert result == OK[2] and attempts == 4 and waits == [0.5, 1.0, 2.0]


def test_a_post_the_server_may_have_started_is_not_sent_again() -> None:
    result, attempts, _ = run(httpx.ReadError("reset"), OK, idempotent=False)
    assert isinstance(result, APIConnectionError) and isinstance(result.__cause__, httpx.ReadError)
    assert attempts == 1
    # A refused connection sent nothing: that one is safe to send again.
    result, attempts, _ = run(httpx.ConnectError("refused"), OK, idempotent=False)
    assert result == OK[2] and attempts == 2


def test_client_errors_are_raised_at_once_with_their_type() -> None:
    result, attempts, _ = run((404, {"X-Error-Type": "model_not_found"}, {"error": "no such model"}))
    assert isinstance(result, ModelNotFoundError) and attempts == 1
    assert result.status == 404 and result.server_message == "no such model"


def test_each_wait_reaches_the_callback() -> None:
    calls: list[tuple[int, float, str]] = []
    policy = RetryPolicy(
        on_retry=lambda n, wait, err: calls.append((n, wait, type(err).__name__)), **NO_JITTER
    )
    run(LIMITED, LOADING, OK, policy=policy)
    assert calls == [(1, 2.0, "RateLimitError"), (2, 3.5, "ModelLoadingError")]


def test_the_async_shell_decides_the_same() -> None:
    import asyncio

    async def go() -> tuple[Any, int, list[float]]:
        transport, seen = script(LIMITED, LOADING, OK)
        clock = Clock()
        async with httpx.AsyncClient(transport=transport) as client:
            request = client.build_request("POST", URL, json={"inputs": "hi"})
            answer = await asend(
                client, request, RetryPolicy(**NO_JITTER), idempotent=False, sleep=clock.asleep, clock=clock
            )
        return answer.json(), len(seen), clock.waits

    assert asyncio.run(go()) == (OK[2], 3, [2.0, 3.5])


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "message"),
    [
        (
            422,
            {"x-error-type": "validation"},
            {"error": "bad inputs", "error_type": "validation"},
            ValidationError,
            "bad inputs",
        ),
        (
            400,
            {},
            {"error": {"message": "bad model", "type": "invalid_request_error"}},
            ValidationError,
            "bad model",
        ),
        (429, {"x-error-type": "rate_limited", "retry-after": "7"}, {"error": "x"}, RateLimitError, "x"),
        (504, {"x-error-type": "runner_timeout"}, {"error": "timed out"}, ServerError, "timed out"),
    ],
)
def test_error_bodies_of_every_dialect_become_the_right_class(
    status: int, headers: dict[str, str], body: Any, cls: type[HTTPError], message: str
) -> None:
    import json

    error = error_from_answer(status, headers, json.dumps(body).encode())
    assert type(error) is cls and error.server_message == message and error.status == status
    assert isinstance(error, HfHubHTTPError)  # the tutorial's `except HfHubHTTPError` still catches it
