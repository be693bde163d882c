"""The one error mapper: every failure becomes a status plus a body in the dialect of its route."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hubserve.errors import HubserveError, MethodNotAllowed, NotFound, ValidationFailed

log = logging.getLogger(__name__)


def hf_body(error: HubserveError) -> dict[str, object]:
    """HF / TGI dialect: ``{"error": str, "error_type": str}``."""
    return {"error": error.message, "error_type": error.error_type}


def error_response(error: HubserveError) -> JSONResponse:
    """The response for a hubserve error on an HF-dialect route."""
    return JSONResponse(hf_body(error), status_code=error.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Map hubserve errors, request validation, unknown routes and crashes to JSON bodies."""

    async def on_hubserve(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubserveError)
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(ValidationFailed(f"Invalid {where or 'request'}: {first.get('msg')}"))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(NotFound(f"No route {request.method} {request.url.path}"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
        body = {"error": str(exc.detail), "error_type": "http_error"}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "Internal server error", "error_type": "internal"}, status_code=500)

    app.add_exception_handler(HubserveError, on_hubserve)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
