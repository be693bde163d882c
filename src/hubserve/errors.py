"""The one exception tree of hubserve; each error carries its HTTP status and a stable ``error_type``.

HubserveError (500 internal)
├── BadRequest (400 bad_request)
│   ├── InvalidModelId (400 invalid_model_id)
│   ├── TaskNotSupported (400 task_not_supported)
│   ├── UnknownOption (400 unknown_option)
│   ├── InvalidAudio (400 invalid_audio)
│   ├── InvalidImage (400 invalid_image)
│   └── ImageTooLarge (400 image_too_large)
├── ValidationFailed (422 validation)
├── Unauthorized (401 unauthorized)
├── Forbidden (403 forbidden)
├── NotFound (404 not_found)
│   ├── ModelNotFound (404 model_not_found)
│   └── AccountNotFound (404 account_not_found)
├── MethodNotAllowed (405 method_not_allowed)
├── Conflict (409 conflict)
│   ├── ModelExists (409 model_exists)
│   ├── AliasLoop (409 alias_loop)
│   └── AccountExists (409 account_exists)
├── RequestTimeout (408 request_timeout)
├── PayloadTooLarge (413 payload_too_large)
│   ├── InputTooLong (413 input_too_long)
│   └── AudioTooLong (413 audio_too_long)
├── Overloaded (429 overloaded)
├── RateLimited (429 rate_limited)
├── GenerationFailed (424 generation)
├── ModelLoading (503 model_loading)
├── NoCapacity (503 no_capacity)
├── ShuttingDown (503 shutting_down)
├── DatabaseUnavailable (503 database_unavailable)
├── ModelFailed (503 model_failed)
├── RequestCancelled (499 cancelled)
├── RunnerCrashed (502 runner_crashed)
├── RunnerTimeout (504 runner_timeout)
├── ModelTooLarge (400 model_too_large)
├── ModelLoadFailed (500 model_load_failed)
└── HubError (500 hub_error)
    └── ImportFailed (400 import_failed)
"""

from __future__ import annotations

import math
from typing import ClassVar


class HubserveError(Exception):
    """Base of every error hubserve raises on purpose."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "internal"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        """Response headers this error adds (Retry-After and the like)."""
        return {}


class BadRequest(HubserveError):
    """The request is well-formed but asks for something that cannot be done."""

    status_code = 400
    error_type = "bad_request"


class InvalidModelId(BadRequest):
    """A model id is not of the form ``namespace/name`` with safe characters."""

    error_type = "invalid_model_id"


class TaskNotSupported(BadRequest):
    """The model does not serve the task that was asked for."""

    error_type = "task_not_supported"


class UnknownOption(BadRequest):
    """A named choice (runtime, prompt name, strategy) is not one of the valid keys."""

    error_type = "unknown_option"


class InvalidAudio(BadRequest):
    """Audio that cannot be decoded: empty, corrupt, or in a format no decoder here reads."""

    error_type = "invalid_audio"


class InvalidImage(BadRequest):
    """An image that cannot be read: empty, corrupt, or in a format Pillow does not know."""

    error_type = "invalid_image"


class ImageTooLarge(BadRequest):
    """An image larger than the server draws or reads (HUBSERVE_MAX_IMAGE_PIXELS)."""

    error_type = "image_too_large"


class ValidationFailed(HubserveError):
    """The body does not match the task's schema: wrong types, empty or missing inputs."""

    status_code = 422
    error_type = "validation"


class Unauthorized(HubserveError):
    """No valid token where one is needed: missing, malformed, unknown, revoked or expired."""

    status_code = 401
    error_type = "unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        """RFC 9110: a 401 names the scheme it wants."""
        return {"WWW-Authenticate": 'Bearer realm="hubserve"'}


class Forbidden(HubserveError):
    """The token is valid but its scopes do not allow this."""

    status_code = 403
    error_type = "forbidden"


class NotFound(HubserveError):
    """No such route or resource."""

    status_code = 404
    error_type = "not_found"


class ModelNotFound(NotFound):
    """No model with this id in the hub (or one the caller may not see)."""

    error_type = "model_not_found"

    @property
    def headers(self) -> dict[str, str]:
        """The Hub's error code, which huggingface_hub turns into ``RepositoryNotFoundError``."""
        return {"X-Error-Code": "RepoNotFound"}


class AccountNotFound(NotFound):
    """No user or organisation with this name."""

    error_type = "account_not_found"


class MethodNotAllowed(HubserveError):
    """The route exists but not for this HTTP method."""

    status_code = 405
    error_type = "method_not_allowed"


class Conflict(HubserveError):
    """The request conflicts with the current state."""

    status_code = 409
    error_type = "conflict"


class ModelExists(Conflict):
    """A model with this id is already in the hub."""

    error_type = "model_exists"


class AliasLoop(Conflict):
    """An alias would point, through others, back to itself."""

    error_type = "alias_loop"


class AccountExists(Conflict):
    """A user or organisation with this name already exists."""

    error_type = "account_exists"


class RequestTimeout(HubserveError):
    """The client sent its request too slowly (headers or body); the connection is closed."""

    status_code = 408
    error_type = "request_timeout"


class PayloadTooLarge(HubserveError):
    """The request body is over the size limit."""

    status_code = 413
    error_type = "payload_too_large"


class InputTooLong(PayloadTooLarge):
    """An input has more tokens than the model takes and truncation was not asked for."""

    error_type = "input_too_long"


class AudioTooLong(PayloadTooLarge):
    """Audio longer than the server takes in one request (HUBSERVE_MAX_AUDIO_S)."""

    error_type = "audio_too_long"


class Overloaded(HubserveError):
    """The model's queue is full; retry later."""

    status_code = 429
    error_type = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """When to come back."""
        return {"Retry-After": str(max(1, round(self.retry_after_s)))}


class RateLimited(HubserveError):
    """The caller used up a rate-limit window; the headers say which and when it resets."""

    status_code = 429
    error_type = "rate_limited"

    def __init__(self, message: str, *, headers: dict[str, str]) -> None:
        super().__init__(message)
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        """RateLimit, RateLimit-Policy, x-ratelimit-* and Retry-After."""
        return dict(self._headers)


class GenerationFailed(HubserveError):
    """The backend failed while generating (TGI's ``generation`` error)."""

    status_code = 424
    error_type = "generation"


class ModelLoadFailed(HubserveError):
    """The model's files are in the hub but the runtime could not load them."""

    error_type = "model_load_failed"


class HubError(HubserveError):
    """The model store on disk is in a state it cannot work with."""

    error_type = "hub_error"


class ImportFailed(HubError):
    """A folder, package or remote repo could not be imported as a model."""

    status_code = 400
    error_type = "import_failed"


class ModelLoading(HubserveError):
    """The model is starting; HF's cold-start answer: 503 with ``estimated_time`` and Retry-After."""

    status_code = 503
    error_type = "model_loading"

    def __init__(self, model: str, estimated_time_s: float) -> None:
        super().__init__(f"Model {model} is currently loading")
        self.estimated_time_s = estimated_time_s

    @property
    def headers(self) -> dict[str, str]:
        """Retry when the model should be ready."""
        return {"Retry-After": str(max(1, math.ceil(self.estimated_time_s)))}


class NoCapacity(HubserveError):
    """Every byte of the memory budget is held by busy or pinned models; retry later."""

    status_code = 503
    error_type = "no_capacity"

    @property
    def headers(self) -> dict[str, str]:
        """Memory frees up as requests end."""
        return {"Retry-After": "5"}


class ShuttingDown(HubserveError):
    """The server is stopping; another replica of it, or this one restarted, can take the request."""

    status_code = 503
    error_type = "shutting_down"

    @property
    def headers(self) -> dict[str, str]:
        """A restart takes seconds."""
        return {"Retry-After": "5"}


class DatabaseUnavailable(HubserveError):
    """The accounts database cannot be reached or stays locked; retry soon."""

    status_code = 503
    error_type = "database_unavailable"

    @property
    def headers(self) -> dict[str, str]:
        """A locked file or a restarting server is usually back in seconds."""
        return {"Retry-After": "5"}


class RequestCancelled(HubserveError):
    """The client went away, and the work it asked for was stopped (never sent: it is logged and metered)."""

    status_code = 499
    error_type = "cancelled"


class RunnerCrashed(HubserveError):
    """The model's process died while serving the request; the scheduler starts it again.

    ``unsent``: the call never reached the process (it was already gone), so it may be sent again.
    """

    status_code = 502
    error_type = "runner_crashed"

    def __init__(self, message: str, *, param: str | None = None, unsent: bool = False) -> None:
        super().__init__(message, param=param)
        self.unsent = unsent


class RunnerTimeout(HubserveError):
    """The model's process did not answer a call within its deadline; it was killed and is restarting."""

    status_code = 504
    error_type = "runner_timeout"


class ModelFailed(HubserveError):
    """The model's process crashed again and again; it is left stopped until a later retry."""

    status_code = 503
    error_type = "model_failed"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """When the model will be tried again."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


class EndpointNotFound(NotFound):
    """No Inference Endpoint by that name in that namespace (or none the caller may see)."""

    error_type = "endpoint_not_found"


class EndpointExists(Conflict):
    """An Inference Endpoint by that name is already in the namespace."""

    error_type = "endpoint_exists"


class EndpointCapacity(HubserveError):
    """An endpoint's runners do not fit beside the other endpoints and pinned models."""

    status_code = 400
    error_type = "endpoint_capacity"


class EndpointUnavailable(HubserveError):
    """An endpoint with no runners to serve: paused, or being deleted."""

    status_code = 503
    error_type = "endpoint_unavailable"

    @property
    def headers(self) -> dict[str, str]:
        """A paused endpoint waits for a resume; ask again in a while."""
        return {"Retry-After": "30"}


class ModelTooLarge(HubserveError):
    """The model needs more memory than the whole budget."""

    status_code = 400
    error_type = "model_too_large"


def _all_subclasses(cls: type[HubserveError]) -> list[type[HubserveError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def by_type(error_type: str) -> type[HubserveError]:
    """The error class with this ``error_type`` (HubserveError when unknown)."""
    for cls in _all_subclasses(HubserveError):
        if cls.error_type == error_type:
            return cls
    return HubserveError
