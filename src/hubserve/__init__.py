"""hubserve: a self-hosted Inference API over the Hugging Face, TGI/TEI and OpenAI protocols.

``import hubserve`` loads nothing but this file: the SDK's names (``hubserve.InferenceClient``, the
errors, ``RetryPolicy``, the endpoint functions) are imported on first use, and the server's modules
only by the server.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "use_huggingface_hub": "hubserve.client.hf_hub",
    "InferenceClient": "hubserve.client",
    "AsyncInferenceClient": "hubserve.client",
    "RetryPolicy": "hubserve.client",
    "InferenceError": "hubserve.client",
    "HTTPError": "hubserve.client",
    "RateLimitError": "hubserve.client",
    "ModelLoadingError": "hubserve.client",
    "ModelNotFoundError": "hubserve.client",
    "ValidationError": "hubserve.client",
    "OverloadedError": "hubserve.client",
    "AuthenticationError": "hubserve.client",
    "PermissionDeniedError": "hubserve.client",
    "GenerationError": "hubserve.client",
    "ServerError": "hubserve.client",
    "EndpointUnavailableError": "hubserve.client",
    "EndpointNotFoundError": "hubserve.client",
    "APIConnectionError": "hubserve.client",
    "APITimeoutError": "hubserve.client",
    "InferenceEndpoint": "hubserve.client.endpoints",
    "create_inference_endpoint": "hubserve.client.endpoints",
    "get_inference_endpoint": "hubserve.client.endpoints",
    "list_inference_endpoints": "hubserve.client.endpoints",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hubserve' has no attribute {name!r}")
