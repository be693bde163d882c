"""The one error mapper: every failure becomes a status plus a body in the dialect of its route."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hubserve.errors import (
    HubserveError,
    MethodNotAllowed,
    ModelLoading,
    NotFound,
    ValidationFailed,
)
from hubserve.gateway.openai.errors import openai_error_body, openai_status

log = logging.getLogger(__name__)


# The only error types huggingface_hub maps to meaningful classes: for ``text_generation`` it turns a
# body carrying any other ``error_type`` into ``UnknownError``, which is not an ``HfHubHTTPError``
# (``inference._common.raise_text_generation_error``), so ``except HfHubHTTPError`` would miss it.
TGI_ERROR_TYPES = frozenset({"validation", "generation", "overloaded", "incomplete_generation"})


def hf_body(error: HubserveError) -> dict[str, object]:
    """HF / TGI dialect: ``{"error": str}``, plus ``error_type`` for TGI's own four types."""
    if error.error_type in TGI_ERROR_TYPES:
        return {"error": error.message, "error_type": error.error_type}
    return {"error": error.message}


def error_headers(error: HubserveError) -> dict[str, str]:
    """The error's own headers plus ``X-Error-Type``, which every dialect sends."""
    return {**error.headers, "X-Error-Type": error.error_type}


def is_openai_route(path: str) -> bool:
    """Routes that speak OpenAI's dialect: ``/v1/...`` and ``/models/{id}/v1/...``."""
    return path.startswith("/v1/") or "/v1/" in path


def error_response(error: HubserveError, path: str = "") -> JSONResponse:
    """The response for a hubserve error, in the dialect of the route it happened on."""
    headers = error_headers(error)
    if is_openai_route(path):
        body, status = openai_error_body(error), openai_status(error)
    else:
        body, status = hf_body(error), error.status_code
    if isinstance(error, ModelLoading):  # HF's cold-start field; OpenAI clients ignore a key they don't know
        body["estimated_time"] = round(error.estimated_time_s, 2)
    return JSONResponse(body, status_code=status, headers=headers)


def crash_response(request: Request, exc: Exception) -> JSONResponse:
    """Log an unhandled error with its traceback; the client gets a 500 that gives nothing away."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"error": "Internal server error"}, status_code=500, headers={"X-Error-Type": "internal"}
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map hubserve errors, request validation, unknown routes and crashes to JSON bodies."""

    async def on_hubserve(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubserveError)
        return error_response(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        error = ValidationFailed(f"Invalid {where or 'request'}: {first.get('msg')}")
        return error_response(error, request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if exc.status_code == 404:
            return error_response(NotFound(f"No route {request.method} {path}"), path)
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"{request.method} is not allowed on {path}"), path)
        headers = {**(exc.headers or {}), "X-Error-Type": "http_error"}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return crash_response(request, exc)

    app.add_exception_handler(HubserveError, on_hubserve)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
