"""EndpointMount: each endpoint's own URL, ``/endpoints/{namespace}/{name}``, served by its runners.

Under that prefix the endpoint's routes are the model's task at ``POST /``, OpenAI's chat, completions
and embeddings, TGI's generate routes, TEI's, ``/info`` and ``/health``. The mount checks the caller
against the endpoint's type (``public``: anyone; ``authenticated``: any valid token; ``private``: members
of its namespace, 404 for anyone else), binds the request to the endpoint on its Meter, and passes it
on with the prefix taken off, so the same route code serves it on the endpoint's runners.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hubserve.accounts.principal import Principal, anonymous
from hubserve.errors import EndpointNotFound, EndpointUnavailable, HubserveError, ModelLoading, Unauthorized
from hubserve.gateway.endpoint_controller import EndpointController, Live
from hubserve.gateway.endpoints.routes import sees_namespace
from hubserve.gateway.errors import Dialect, crash_response, error_response
from hubserve.gateway.metering import EndpointBinding, Meter
from hubserve.types.names import ModelId

PREFIX = "/endpoints/"
SERVED = frozenset(
    {
        "/",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/generate",
        "/generate_stream",
        "/embed",
        "/rerank",
        "/predict",
        "/tokenize",
        "/decode",
        "/info",
        "/health",
    }
)


class EndpointMount:
    """Pure ASGI: requests under ``/endpoints/`` go to their endpoint; all else goes on to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            inner = await self._bind(request, path)
        except HubserveError as exc:
            response: Response = error_response(exc, Dialect.HF)
        except Exception as exc:
            response = crash_response(request, exc, Dialect.HF)
        else:
            if isinstance(inner, Response):
                response = inner
            else:
                await self.app(inner, receive, send)
                return
        await response(scope, receive, send)

    async def _bind(self, request: Request, path: str) -> Scope | Response:
        parts = path[len(PREFIX) :].split("/", 2)
        if len(parts) < 2 or not all(parts[:2]):
            raise EndpointNotFound("An endpoint's URL is /endpoints/{namespace}/{name}")
        namespace, name = parts[0], parts[1]
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        services = request.app.state.services
        controller: EndpointController | None = services.endpoints
        live = controller.find(namespace, name) if controller is not None else None
        if live is None:
            raise EndpointNotFound(f"Endpoint {namespace}/{name} does not exist")
        principal = await self._caller(request, services, live)
        if rest not in SERVED:
            raise EndpointNotFound(
                f"Endpoint {namespace}/{name} has no route {rest}; it serves: {', '.join(sorted(SERVED))}"
            )
        assert controller is not None
        status = controller.status(live)
        if status["state"] == "paused":
            raise EndpointUnavailable(f"Endpoint {namespace}/{name} is paused; resume it to call it")
        if request.method == "GET" and rest == "/health":
            return _health(live, status)
        meter: Meter = request.scope["state"]["meter"]
        meter.endpoint = EndpointBinding(
            f"{namespace}/{name}", ModelId.parse(live.spec.repository), principal
        )
        meter.principal = principal
        if rest == "/info":  # the model's info, as its per-model route gives it
            rest = f"/models/{live.spec.repository}/info"
        return {**request.scope, "path": rest, "raw_path": rest.encode()}

    @staticmethod
    async def _caller(request: Request, services: object, live: Live) -> Principal:
        access = services.access  # type: ignore[attr-defined]
        header = request.headers.get("authorization")
        address = request.client.host if request.client else "unknown"
        kind = live.spec.type
        if kind == "public" and not header:
            return anonymous(address)
        principal: Principal = await access.authenticate(header, address)
        if kind == "public":
            return principal
        if kind == "private" and not sees_namespace(principal, live.spec.namespace):
            raise EndpointNotFound(f"Endpoint {live.route} does not exist")
        if principal.anonymous:
            raise Unauthorized(f"Endpoint {live.route} needs a token: send 'Authorization: Bearer hs_...'")
        return principal


def _health(live: Live, status: dict[str, object]) -> Response:
    """200 once a replica is ready; else the 503 a call would get."""
    if status["state"] in ("running", "updating", "updateFailed"):
        return JSONResponse({"status": "ok", "endpoint": live.route})
    if status["state"] == "failed":
        return error_response(
            EndpointUnavailable(f"Endpoint {live.route} failed: {status['message']}"), Dialect.HF
        )
    return error_response(ModelLoading(live.spec.repository, 1.0), Dialect.HF)
