"""Inference Endpoints from the SDK: huggingface_hub's endpoint functions, against a hubserve server.

``create_inference_endpoint``, ``get_inference_endpoint`` and ``list_inference_endpoints`` return an
``InferenceEndpoint`` with ``wait()``, ``fetch()``, ``pause()``, ``resume()``, ``scale_to_zero()``,
``update()``, ``delete()`` and ``.client``, as huggingface_hub's do (``_inference_endpoints.py``, 2.4.0).
The bodies are the shared ones (``hubserve.types.endpoint_shapes``); the namespace defaults to the token's
account (``/api/whoami-v2``). Hardware arguments default to this server's (``cpu``, ``x1``, ``local``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from hubserve.client.errors import InferenceError
from hubserve.client.inference_client import (
    DEFAULT_TIMEOUT_S,
    AsyncInferenceClient,
    InferenceClient,
    request_headers,
    server_url,
)
from hubserve.client.retry import RetryPolicy
from hubserve.client.sending import send
from hubserve.types.endpoint_shapes import FAILED_STATES, RUNNING, create_body, update_body

log = logging.getLogger("hubserve.client")


class InferenceEndpointError(InferenceError):
    """The endpoint ended ``failed`` or ``updateFailed``."""


class InferenceEndpointTimeoutError(InferenceError, TimeoutError):
    """The endpoint was not running when ``wait(timeout=...)`` ran out."""


class _Api:
    """The endpoints API of one server, with one token."""

    def __init__(
        self,
        base_url: str | None,
        token: str | None,
        timeout: float | None,
        retry: RetryPolicy | None,
    ) -> None:
        self.base_url, self.token = server_url(base_url), token
        self.retry = retry if retry is not None else RetryPolicy()
        self.http = httpx.Client(
            headers=request_headers(token), timeout=timeout if timeout is not None else DEFAULT_TIMEOUT_S
        )

    def call(self, method: str, path: str, *, json: Any = None, idempotent: bool = True) -> Any:
        request = self.http.build_request(method, self.base_url + path, json=json)
        response = send(self.http, request, self.retry, idempotent=idempotent)
        return response.json() if response.content else None

    def namespace(self, namespace: str | None) -> str:
        return namespace or str(self.call("GET", "/api/whoami-v2")["name"])


class InferenceEndpoint:
    """One endpoint; its fields are those of the last answer (``raw``), refreshed by each call."""

    def __init__(self, raw: dict[str, Any], namespace: str, api: _Api) -> None:
        self.namespace = namespace
        self._api = api
        self._populate(raw)

    def _populate(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        status = raw["status"]
        self.name: str = raw["name"]
        self.repository: str = raw["model"]["repository"]
        self.status: str = status["state"]
        self.url: str | None = status.get("url")
        self.health_route: str = raw.get("healthRoute", "/health")
        self.framework: str = raw["model"]["framework"]
        self.revision: str = raw["model"]["revision"]
        self.task: str = raw["model"]["task"]
        self.created_at: str = status["createdAt"]
        self.updated_at: str = status["updatedAt"]
        self.type: str = raw["type"]

    def __repr__(self) -> str:
        return (
            f"InferenceEndpoint(name={self.name!r}, namespace={self.namespace!r}, "
            f"repository={self.repository!r}, status={self.status!r}, url={self.url!r})"
        )

    @property
    def _path(self) -> str:
        return f"/v2/endpoint/{self.namespace}/{self.name}"

    def _act(self, method: str, suffix: str = "", json: Any = None) -> InferenceEndpoint:
        idempotent = method != "POST" or suffix in ("/pause", "/scale-to-zero", "/resume")
        self._populate(self._api.call(method, self._path + suffix, json=json, idempotent=idempotent))
        return self

    def fetch(self) -> InferenceEndpoint:
        """Read the endpoint's state now."""
        return self._act("GET")

    def wait(
        self,
        timeout: float | None = None,
        refresh_every: float = 1.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> InferenceEndpoint:
        """Poll until it is running and its health route answers 200; raise if it fails or time runs out."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout cannot be negative")
        if refresh_every <= 0:
            raise ValueError("refresh_every must be positive")
        started = time.monotonic()
        while True:
            if self.status in FAILED_STATES:
                message = self.raw["status"].get("message") or "see the server's log"
                raise InferenceEndpointError(f"Inference Endpoint {self.name} is {self.status}: {message}")
            if self.status == RUNNING and self.url and self._healthy():
                return self
            if timeout is not None and time.monotonic() - started > timeout:
                raise InferenceEndpointTimeoutError(
                    f"Inference Endpoint {self.name} was not running after {timeout:g}s (it is {self.status})"
                )
            log.info("endpoint %s is %s; checking again in %gs", self.name, self.status, refresh_every)
            sleep(refresh_every)
            self.fetch()

    def _healthy(self) -> bool:
        url = f"{(self.url or '').rstrip('/')}/{self.health_route.lstrip('/')}"
        try:
            return self._api.http.get(url).status_code == 200
        except httpx.TransportError:
            return False

    def pause(self) -> InferenceEndpoint:
        """Stop its replicas until ``resume()``; requests to it get 503 meanwhile."""
        return self._act("POST", "/pause")

    def resume(self, running_ok: bool = True) -> InferenceEndpoint:
        """Start a paused endpoint again; with ``running_ok=False`` a running one is an error."""
        if running_ok and self.fetch().status == RUNNING:
            return self
        return self._act("POST", "/resume")

    def scale_to_zero(self) -> InferenceEndpoint:
        """Stop its replicas now; the next request starts one again."""
        return self._act("POST", "/scale-to-zero")

    def update(self, **changes: Any) -> InferenceEndpoint:
        """Change its compute, scaling or model (``update_body``'s arguments); it rolls over to the change."""
        return self._act("PUT", json=update_body(**changes))

    def delete(self) -> None:
        """Delete it and stop its replicas."""
        self._api.call("DELETE", self._path)

    @property
    def client(self) -> InferenceClient:
        """An ``InferenceClient`` for the running endpoint."""
        return InferenceClient(base_url=self._running_url(), token=self._api.token, retry=self._api.retry)

    @property
    def async_client(self) -> AsyncInferenceClient:
        """An ``AsyncInferenceClient`` for the running endpoint."""
        return AsyncInferenceClient(
            base_url=self._running_url(), token=self._api.token, retry=self._api.retry
        )

    def _running_url(self) -> str:
        if not self.url:
            raise InferenceEndpointError(f"Inference Endpoint {self.name} has no URL yet: wait() for it")
        return self.url


def create_inference_endpoint(
    name: str,
    *,
    repository: str,
    namespace: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    **options: Any,
) -> InferenceEndpoint:
    """Create an endpoint serving ``repository``; ``options`` are huggingface_hub's (``type=``, ...)."""
    api = _Api(base_url, token, timeout, retry)
    space = api.namespace(namespace)
    raw = api.call(
        "POST", f"/v2/endpoint/{space}", json=create_body(name, repository, **options), idempotent=False
    )
    return InferenceEndpoint(raw, space, api)


def get_inference_endpoint(
    name: str,
    *,
    namespace: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> InferenceEndpoint:
    """One endpoint by name."""
    api = _Api(base_url, token, timeout, retry)
    space = api.namespace(namespace)
    return InferenceEndpoint(api.call("GET", f"/v2/endpoint/{space}/{name}"), space, api)


def list_inference_endpoints(
    namespace: str | None = None,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> list[InferenceEndpoint]:
    """The namespace's endpoints."""
    api = _Api(base_url, token, timeout, retry)
    space = api.namespace(namespace)
    return [InferenceEndpoint(raw, space, api) for raw in api.call("GET", f"/v2/endpoint/{space}")["items"]]
