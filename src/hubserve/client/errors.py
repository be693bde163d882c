"""The SDK's error tree, read from a server answer without I/O: HF, TGI and OpenAI error bodies alike.

``InferenceError`` → ``HTTPError`` (status, ``error_type``, request id, the server's message) → one class
per kind of answer. When huggingface_hub is installed, every ``HTTPError`` is also its ``HfHubHTTPError``,
so ``except HfHubHTTPError`` (the tutorial's retry loop) keeps catching them; it is never required.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _hf_hub_error() -> type[Exception]:
    try:
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # the SDK does not need huggingface_hub
        return Exception
    base: type[Exception] = HfHubHTTPError
    return base


class InferenceError(Exception):
    """Base of every error the SDK raises."""


class HTTPError(InferenceError, _hf_hub_error()):  # type: ignore[misc]
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        response: Any = None,
    ) -> None:
        Exception.__init__(self, f"{status} {error_type or 'error'}: {message}")
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.server_message = message
        self.headers = dict(headers or {})
        self.body = body
        self.response = response  # the httpx.Response, as huggingface_hub's HfHubHTTPError keeps it


class APIConnectionError(InferenceError, ConnectionError):
    """The server could not be reached, or the connection broke before an answer (``__cause__`` says how)."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """No answer within the client's timeout."""


class AuthenticationError(HTTPError):
    """401: no token, or one the server does not know."""


class PermissionDeniedError(HTTPError):
    """403: the token may not do this."""


class ModelNotFoundError(HTTPError):
    """404: no such model (or one the caller may not see)."""


class ValidationError(HTTPError):
    """400 or 422: the request is not one the model takes."""


class GenerationError(HTTPError):
    """424: the backend failed while generating."""


class RateLimitError(HTTPError):
    """429 ``rate_limited``: the caller's limit is used up until ``retry_after`` seconds from now."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asks to wait (``Retry-After``)."""
        return _number(self.headers.get("retry-after"))

    @property
    def limit(self) -> int | None:
        """Requests the window allows (``x-ratelimit-limit``)."""
        value = _number(self.headers.get("x-ratelimit-limit"))
        return int(value) if value is not None else None

    @property
    def remaining(self) -> int | None:
        """Requests left in the window (``x-ratelimit-remaining``)."""
        value = _number(self.headers.get("x-ratelimit-remaining"))
        return int(value) if value is not None else None

    @property
    def window(self) -> str | None:
        """The limit's policy as the server states it (``RateLimit-Policy``)."""
        return self.headers.get("ratelimit-policy")


class OverloadedError(HTTPError):
    """429 ``overloaded`` or 503 without a load under way: the model's queue is full; wait ``retry_after``."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asks to wait (``Retry-After``)."""
        return _number(self.headers.get("retry-after"))


class ModelLoadingError(HTTPError):
    """503 ``model_loading``: the model starts; it is ready in about ``estimated_time`` seconds."""

    @property
    def estimated_time(self) -> float | None:
        """The server's estimate of the seconds until the model serves."""
        estimate = self.body_estimate
        return estimate if estimate is not None else _number(self.headers.get("retry-after"))

    @property
    def body_estimate(self) -> float | None:
        """``estimated_time`` as the body gives it."""
        body = self.body if isinstance(self.body, dict) else {}
        return _number(body.get("estimated_time"))


class ServerError(HTTPError):
    """5xx: the server or the model's process failed (502 and 504 are worth a retry)."""


class EndpointNotFoundError(ModelNotFoundError):
    """404 ``endpoint_not_found``: no such Inference Endpoint (or one the caller may not see)."""


class EndpointUnavailableError(ServerError):
    """503 ``endpoint_unavailable``: the endpoint is paused or being deleted; it serves again once resumed."""


BY_TYPE: dict[str, type[HTTPError]] = {
    "rate_limited": RateLimitError,
    "overloaded": OverloadedError,
    "no_capacity": OverloadedError,
    "shutting_down": OverloadedError,
    "database_unavailable": OverloadedError,
    "model_loading": ModelLoadingError,
    "model_not_found": ModelNotFoundError,
    "not_found": ModelNotFoundError,
    "endpoint_not_found": EndpointNotFoundError,
    "unauthorized": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "endpoint_unavailable": EndpointUnavailableError,
    "generation": GenerationError,
    **dict.fromkeys(
        (
            "validation",
            "bad_request",
            "invalid_model_id",
            "task_not_supported",
            "unknown_option",
            "invalid_audio",
            "invalid_image",
            "image_too_large",
            "input_too_long",
            "audio_too_long",
            "payload_too_large",
        ),
        ValidationError,
    ),
}
BY_STATUS: dict[int, type[HTTPError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    413: ValidationError,
    422: ValidationError,
    424: GenerationError,
    429: RateLimitError,
}


def error_from_answer(
    status: int, headers: Mapping[str, str], content: bytes, response: Any = None
) -> HTTPError:
    """The error an answer stands for: its class from ``X-Error-Type`` (else the status), its message."""
    lower = {k.lower(): v for k, v in headers.items()}
    body: Any = None
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    message, kind = _message(body, content)
    error_type = lower.get("x-error-type") or kind
    cls = (
        BY_TYPE.get(error_type or "")
        or BY_STATUS.get(status)
        or (ServerError if status >= 500 else HTTPError)
    )
    return cls(
        message,
        status=status,
        error_type=error_type,
        request_id=lower.get("x-request-id"),
        headers=lower,
        body=body,
        response=response,
    )


def _message(body: Any, content: bytes) -> tuple[str, str | None]:
    """Message and type of HF/TGI bodies (``{"error", "error_type"}``) and OpenAI's (``{"error": {...}}``)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # OpenAI's shape
            return str(error.get("message") or ""), error.get("code") or error.get("type")
        if error is not None:
            return str(error), body.get("error_type")
        if "message" in body:  # Cohere's
            return str(body["message"]), None
    return content.decode("utf-8", "replace")[:500], None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
