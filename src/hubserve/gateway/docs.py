"""``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``: served with no network, behind the read scope.

The Swagger UI and ReDoc scripts come from the ``fastapi-offline`` package, served under
``/docs/assets``; nothing is fetched from a CDN. With anonymous use off, the schema and both pages need a
token like any other route (401 without one).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from hubserve.config import Settings
from hubserve.gateway.callers import Reader
from hubserve.gateway.openapi import build_schema

ASSETS = "/docs/assets"
FAVICON = "data:,"  # no icon, rather than one fetched from the network
router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    """The folder of Swagger UI's and ReDoc's files in the installed ``fastapi-offline`` package."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/openapi.json")
async def openapi_json(request: Request, _: Reader) -> JSONResponse:
    """The OpenAPI document."""
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request, _: Reader) -> HTMLResponse:
    """Swagger UI over the schema."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="hubserve API",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get("/redoc")
async def redoc(request: Request, _: Reader) -> HTMLResponse:
    """ReDoc over the schema."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title="hubserve API",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Serve the schema and its pages; the app must be built with FastAPI's own docs routes off."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    app.openapi = functools.partial(  # type: ignore[method-assign]
        build_schema, app, allow_anonymous=settings.allow_anonymous
    )
