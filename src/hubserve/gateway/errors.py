"""The one error mapper: every failure becomes a status plus a body in the dialect of its route."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hubserve.errors import (
    DatabaseUnavailable,
    HubserveError,
    MethodNotAllowed,
    ModelLoading,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger(__name__)


# The only error types huggingface_hub maps to meaningful classes: for ``text_generation`` it turns a
# body carrying any other ``error_type`` into ``UnknownError``, which is not an ``HfHubHTTPError``
# (``inference._common.raise_text_generation_error``), so ``except HfHubHTTPError`` would miss it.
TGI_ERROR_TYPES = frozenset({"validation", "generation", "overloaded", "incomplete_generation"})


def openai_status(error: HubserveError) -> int:
    """OpenAI clients expect 400 for an invalid request, where HF/TGI use 422."""
    return 400 if isinstance(error, ValidationFailed) else error.status_code


def openai_error_body(error: HubserveError) -> dict[str, Any]:
    """The body OpenAI clients parse into ``e.message``, ``e.type``, ``e.param`` and ``e.code``."""
    kind = "invalid_request_error" if openai_status(error) < 500 else "server_error"
    if error.status_code == 429:
        kind = "rate_limit_exceeded"
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.error_type}}


def hf_body(error: HubserveError) -> dict[str, object]:
    """HF / TGI dialect: ``{"error": str}``, plus ``error_type`` for TGI's own four types."""
    if error.error_type in TGI_ERROR_TYPES:
        return {"error": error.message, "error_type": error.error_type}
    return {"error": error.message}


def error_headers(error: HubserveError) -> dict[str, str]:
    """The error's own headers plus ``X-Error-Type``, which every dialect sends."""
    return {**error.headers, "X-Error-Type": error.error_type}


def tei_error_type(error: HubserveError) -> str:
    """TEI's ``error_type`` (router/src/http/types.rs ``ErrorType``) for a hubserve error."""
    if error.status_code == 429:
        return "Overloaded"
    if error.status_code == 503:
        return "Unhealthy"
    return "Backend" if error.status_code >= 500 else "Validation"


class Dialect(StrEnum):
    """The error body a route speaks; a route that is not HF's carries its dialect's name as a tag."""

    HF = "hf"
    OPENAI = "openai"
    TEI = "tei"  # {"error", "error_type"} with TEI's type names
    COHERE = "cohere"  # {"message"}, as Cohere's and Jina's rerank answer


def dialect_of(request: Request) -> Dialect:
    """The dialect of the route that matched, never guessed from the path (a model may be named v1/x).

    A request no route matched gets HF's.
    """
    return dialect_of_tags(getattr(request.scope.get("route"), "tags", ()))


def dialect_of_tags(tags: Sequence[str]) -> Dialect:
    """The dialect a route's tags name; HF's when they name none."""
    return next((d for d in (Dialect.OPENAI, Dialect.TEI, Dialect.COHERE) if d in tags), Dialect.HF)


def error_response(error: HubserveError, dialect: Dialect = Dialect.HF) -> JSONResponse:
    """The response for a hubserve error, in the dialect of the route it happened on."""
    headers = error_headers(error)
    body: dict[str, Any]
    if dialect is Dialect.OPENAI:
        body, status = openai_error_body(error), openai_status(error)
    elif dialect is Dialect.TEI:
        body, status = {"error": error.message, "error_type": tei_error_type(error)}, error.status_code
    elif dialect is Dialect.COHERE:
        body, status = {"message": error.message}, error.status_code
    else:
        body, status = hf_body(error), error.status_code
    if isinstance(error, ModelLoading):  # HF's cold-start field; OpenAI clients ignore a key they don't know
        body["estimated_time"] = round(error.estimated_time_s, 2)
    return JSONResponse(body, status_code=status, headers=headers)


def crash_response(request: Request, exc: Exception, dialect: Dialect | None = None) -> JSONResponse:
    """Log an unhandled error with its traceback; the client gets a 500 that gives nothing away.

    The database going away (unreachable, or a SQLite file locked past the timeout) is no crash: 503.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        log.error("the accounts database is unavailable: %s", exc.orig)
        error = DatabaseUnavailable("The accounts database is unavailable; retry in a few seconds")
        return error_response(error, dialect or dialect_of(request))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"error": "Internal server error"}, status_code=500, headers={"X-Error-Type": "internal"}
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map hubserve errors, request validation, unknown routes and crashes to JSON bodies."""

    async def on_hubserve(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubserveError)
        return error_response(exc, dialect_of(request))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        error = ValidationFailed(f"Invalid {where or 'request'}: {first.get('msg')}")
        return error_response(error, dialect_of(request))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if exc.status_code == 404:
            return error_response(NotFound(f"No route {request.method} {path}"), dialect_of(request))
        if exc.status_code == 405:
            error = MethodNotAllowed(f"{request.method} is not allowed on {path}")
            return error_response(error, dialect_of(request))
        headers = {**(exc.headers or {}), "X-Error-Type": "http_error"}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return crash_response(request, exc)

    app.add_exception_handler(HubserveError, on_hubserve)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(OperationalError, on_crash)  # handled, not re-raised: one log line
    app.add_exception_handler(InterfaceError, on_crash)
    app.add_exception_handler(Exception, on_crash)
