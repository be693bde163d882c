"""HEAD and OPTIONS for every route: HEAD is GET without its body, OPTIONS lists the path's methods.

FastAPI routes answer only the methods they declare, so both would be 405 everywhere; a CORS preflight
(an OPTIONS with ``Access-Control-Request-Method``) is answered before this, by the CORS middleware.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CANDIDATES = ("GET", "POST", "PUT", "PATCH", "DELETE")


class MethodsMiddleware:
    """Serve HEAD through the GET route without the body, and OPTIONS with an ``Allow`` header."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if method == "OPTIONS":
            await self._options(scope, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)

    def allowed(self, scope: Scope) -> list[str]:
        """The methods some route serves on the scope's path, HEAD and OPTIONS included; empty if none."""
        methods = {
            method
            for method in CANDIDATES
            if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in self._routes())
        }
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"}) if methods else []

    async def _options(self, scope: Scope, send: Send) -> None:
        allowed = self.allowed(scope)
        status, headers = 204, [(b"allow", ", ".join(allowed).encode())]
        if not allowed:
            status, headers = 404, [(b"x-error-type", b"not_found")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
