"""InferenceLane: the hottest inference POSTs served from the gateway's front, ahead of FastAPI's stack.

These are the HF inference routes, which take most of the traffic, and OpenAI's ``/v1/embeddings``.
Through FastAPI each request passed its error, telemetry and body-size middlewares, the router and
Starlette's per-route wrappers before the endpoint ran; here a split of the path picks the route, and
errors and crashes map to the same responses as the app's handlers give. Requests that are not a full
match go on to FastAPI unchanged (other methods get its 405, a trailing slash its redirect). Measured
in-process with the runner faked, skipping FastAPI's stack took ~6 us off the ~79 us an HF request cost.
In ``bench/embeddings.py`` (64 connections, one sentence each), ``/v1/embeddings`` through the stack (the
router matching some 90 routes, the dependencies) ran at 0.92-0.94 of the HF route's rate; in the lane, 1.00.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hubserve.errors import HubserveError
from hubserve.gateway.errors import Dialect, crash_response, error_response
from hubserve.gateway.hf.routes import serve
from hubserve.gateway.openai.embeddings import serve_embeddings


class Target(NamedTuple):
    """What an HF inference path asks for: a model (None: the default model) and maybe a task.

    The model is ``namespace/name`` or a bare ``name``, an id or an alias, as the client wrote it.
    """

    model: str | None
    task: str | None


class ExactRoute(NamedTuple):
    """A lane route of another dialect, at one path: its endpoint, and the dialect of its errors."""

    endpoint: Callable[[Request], Awaitable[Response]]
    dialect: Dialect


EXACT_ROUTES = {"/v1/embeddings": ExactRoute(serve_embeddings, Dialect.OPENAI)}


def inference_target(path: str) -> Target | None:
    """The target of ``POST path`` when it is one of the HF inference routes, else None."""
    if path == "/":
        return Target(None, None)
    parts = path.split("/")
    if parts[0] or not all(parts[1:]):
        return None
    if parts[1] == "hf-inference":  # the HF router's prefix for its own provider
        del parts[1]
    match parts[1:]:
        case ["models", namespace, name]:
            return Target(f"{namespace}/{name}", None)
        case ["models", name]:
            return Target(name, None)
        case ["models", namespace, name, "pipeline", task]:
            return Target(f"{namespace}/{name}", task)
        case ["models", name, "pipeline", task]:
            return Target(name, task)
        case ["pipeline", task, namespace, name]:
            return Target(f"{namespace}/{name}", task)
        case ["pipeline", task, name]:
            return Target(name, task)
    return None


class InferenceLane:
    """Pure ASGI: POSTs to a lane route run their endpoint; all else goes on to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            path = _route_path(scope)
            exact = EXACT_ROUTES.get(path)
            if exact is not None:
                await self._serve(exact.endpoint, exact.dialect, scope, receive, send)
                return
            target = inference_target(path)
            if target is not None:

                async def endpoint(request: Request) -> Response:
                    return await serve(request, target.model, target.task)

                await self._serve(endpoint, Dialect.HF, scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(
        endpoint: Callable[[Request], Awaitable[Response]],
        dialect: Dialect,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        request = Request(scope, receive, send)
        response: Response
        try:
            response = await endpoint(request)
        except HubserveError as exc:
            response = error_response(exc, dialect)
        except Exception as exc:
            response = crash_response(request, exc, dialect)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the app's root path, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
