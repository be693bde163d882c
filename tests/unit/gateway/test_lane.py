"""The gateway's front: HF inference POSTs run from the lane, with metering and the body limit; all else
reaches FastAPI's stack unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request

from hubserve.config import Settings
from hubserve.errors import ModelLoading, ModelNotFound, PayloadTooLarge
from hubserve.gateway import lane
from hubserve.gateway.drain import Drain
from hubserve.gateway.errors import Dialect, install_error_handlers
from hubserve.gateway.front import Gateway
from hubserve.gateway.hf.routes import router as hf_router
from hubserve.gateway.lane import Target, inference_target
from hubserve.server import create_app

pytestmark = pytest.mark.anyio


async def fake_serve(request: Request, model: str | None, task: str | None) -> Response:
    if model == "org/missing":
        raise ModelNotFound(f"Model {model} does not exist")
    if model == "org/broken":
        raise RuntimeError("a bug")
    if model == "v1/cold":
        raise ModelLoading(model, 3.0)
    body = await request.body()
    # Starlette's router puts itself in the scope: its absence shows the request skipped FastAPI's stack.
    return JSONResponse(
        {"model": model, "task": task, "bytes": len(body), "via_router": "router" in request.scope}
    )


async def fake_embeddings(request: Request) -> Response:
    body = await request.json()
    if body.get("model") == "org/missing":
        raise ModelNotFound("Model org/missing does not exist")
    if body.get("model") == "org/broken":
        raise RuntimeError("a bug")
    return JSONResponse({"object": "list", "via_router": "router" in request.scope})


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(lane, "serve", fake_serve)
    monkeypatch.setitem(lane.EXACT_ROUTES, "/v1/embeddings", lane.ExactRoute(fake_embeddings, Dialect.OPENAI))
    app = Gateway(max_body_bytes=100, body_timeout_s=30.0, drain=Drain(0.0))
    install_error_handlers(app)
    app.include_router(hf_router)
    app.get("/health")(lambda: {"ok": True})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/", Target(None, None)),
        ("/models/org/name", Target("org/name", None)),
        ("/models/org/name/pipeline/fill-mask", Target("org/name", "fill-mask")),
        ("/pipeline/fill-mask/org/name", Target("org/name", "fill-mask")),
        ("/models/bare-name", Target("bare-name", None)),
        ("/models/bare-name/pipeline/fill-mask", Target("bare-name", "fill-mask")),
        ("/pipeline/fill-mask/bare-name", Target("bare-name", "fill-mask")),
        ("/hf-inference/models/org/name", Target("org/name", None)),
        (
            "/hf-inference/models/org/name/pipeline/feature-extraction",
            Target("org/name", "feature-extraction"),
        ),
        ("/hf-inference/models/bare", Target("bare", None)),
        ("/hf-inference", None),
        ("/hf-inference/models/org/name/v1/chat/completions", None),
        ("/models/org/name/", None),
        ("/models/org//name", None),
        ("/models/org/name/v1/chat/completions", None),
        ("/models/org/name/info", None),
        ("/models", None),
        ("/v1/embeddings", None),
        ("/pipeline/fill-mask/org/name/more", None),
    ],
)
def test_the_lane_takes_exactly_the_hf_inference_paths(path: str, target: Target | None) -> None:
    assert inference_target(path) == target


async def test_an_inference_post_runs_from_the_lane_and_is_metered(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/org/name/pipeline/fill-mask", content=b'{"inputs": "x"}')
    assert r.status_code == 200
    assert r.json() == {"model": "org/name", "task": "fill-mask", "bytes": 15, "via_router": False}
    assert len(r.headers["x-request-id"]) == 32


async def test_errors_take_the_hf_dialect_and_crashes_get_the_internal_500(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/org/missing")
    assert (r.status_code, r.json()) == (404, {"error": "Model org/missing does not exist"})
    assert r.headers["x-error-type"] == "model_not_found"
    r = await client.post("/models/org/broken")
    assert (r.status_code, r.json()) == (500, {"error": "Internal server error"})
    assert r.headers["x-error-type"] == "internal"
    assert "x-request-id" in r.headers


async def test_openai_embeddings_run_from_the_lane_with_openai_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/embeddings", json={"model": "org/name"})
    assert r.json() == {"object": "list", "via_router": False}
    r = await client.post("/v1/embeddings", json={"model": "org/missing"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = await client.post("/v1/embeddings", json={"model": "org/broken"})
    assert (r.status_code, r.headers["x-error-type"]) == (500, "internal")
    r = await client.get("/v1/embeddings")  # not the lane's: FastAPI answers (this app has no such route)
    assert (r.status_code, r.headers["x-error-type"]) == (404, "not_found")


async def test_the_dialect_comes_from_the_route_not_the_paths_text(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/v1/cold")  # a model named v1/cold, on an HF route
    assert (r.status_code, r.json()) == (
        503,
        {"error": "Model v1/cold is currently loading", "estimated_time": 3.0},
    )


async def test_the_body_limit_covers_the_lane(client: httpx.AsyncClient) -> None:
    r = await client.post("/models/org/name", content=b"x" * 101)
    assert r.status_code == 413
    assert r.headers["x-error-type"] == PayloadTooLarge.error_type

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(3):
            yield b"x" * 40

    r = await client.post("/models/org/name", content=chunks())
    assert r.status_code == 413
    assert r.headers["x-error-type"] == PayloadTooLarge.error_type


async def test_other_methods_and_routes_reach_fastapi(client: httpx.AsyncClient) -> None:
    r = await client.get("/models/org/name")
    assert (r.status_code, r.headers["x-error-type"]) == (405, "method_not_allowed")
    r = await client.post("/models/org/name/more/parts")
    assert (r.status_code, r.headers["x-error-type"]) == (404, "not_found")
    r = await client.get("/health")
    assert r.json() == {"ok": True}
    assert "x-request-id" in r.headers


def test_create_app_builds_the_gateway_with_its_front(tmp_path: Path) -> None:
    assert isinstance(create_app(Settings.from_env(home=tmp_path)), Gateway)
