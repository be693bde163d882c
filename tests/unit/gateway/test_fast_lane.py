"""FastLane: full POST matches run their endpoint from the middleware; all else reaches the router."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Route

from hubserve.errors import ModelNotFound
from hubserve.gateway.errors import install_error_handlers
from hubserve.gateway.fast_lane import FastLane

pytestmark = pytest.mark.anyio


async def infer(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "missing":
        raise ModelNotFound(f"Model {name} does not exist")
    if name == "broken":
        raise RuntimeError("a bug")
    # Whether the request went through the router: Starlette's Router puts itself in the scope.
    return JSONResponse({"name": name, "via_router": "router" in request.scope})


def build() -> FastAPI:
    router = APIRouter()
    router.post("/models/{name}")(infer)
    router.get("/models/{name}/info")(lambda name: {"info": name})
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    lane = [Route(r.path, r.endpoint, methods=["POST"]) for r in router.routes if isinstance(r, APIRoute)]
    app.add_middleware(FastLane, routes=lane[:1])
    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_full_match_runs_the_endpoint_without_the_router(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/minilm")
    assert r.status_code == 200
    assert r.json() == {"name": "minilm", "via_router": False}


async def test_hubserve_errors_take_the_route_dialect(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/missing")
    assert r.status_code == 404
    assert r.json() == {"error": "Model missing does not exist", "error_type": "model_not_found"}


async def test_a_crash_still_reaches_the_app_crash_handler(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/broken")
    assert r.status_code == 500
    assert r.json() == {"error": "Internal server error", "error_type": "internal"}


async def test_other_methods_and_routes_go_to_the_router(client: httpx.AsyncClient) -> None:
    r = await client.get("/models/minilm")
    assert r.status_code == 405
    assert r.json()["error_type"] == "method_not_allowed"
    assert (await client.get("/models/minilm/info")).json() == {"info": "minilm"}
    r = await client.post("/models/a/b/c")
    assert r.status_code == 404
    assert r.json()["error_type"] == "not_found"
