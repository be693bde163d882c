"""hubserve's Python SDK: sync and async clients, retries, typed errors and results; nothing of the server."""

from hubserve.client.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    EndpointNotFoundError,
    EndpointUnavailableError,
    GenerationError,
    HTTPError,
    InferenceError,
    ModelLoadingError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from hubserve.client.inference_client import AsyncInferenceClient, AsyncStream, InferenceClient, Stream
from hubserve.client.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "APIConnectionError",
    "APITimeoutError",
    "AsyncInferenceClient",
    "AsyncStream",
    "AuthenticationError",
    "EndpointNotFoundError",
    "EndpointUnavailableError",
    "GenerationError",
    "HTTPError",
    "InferenceClient",
    "InferenceError",
    "ModelLoadingError",
    "ModelNotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Stream",
    "ValidationError",
]
