from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.config import Settings
from hubserve.server import create_app


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/models/{namespace}/{name}", ["namespace", "name"]),
        ("/models/{namespace}/{name}/pipeline/{task}", ["namespace", "name", "task"]),
        ("/pipeline/{task}/{namespace}/{name}", ["task", "namespace", "name"]),
    ],
)
def test_hf_routes_document_their_path_parameters(tmp_path: Path, path: str, names: list[str]) -> None:
    spec = create_app(Settings.from_env(home=tmp_path)).openapi()
    params = spec["paths"][path]["post"]["parameters"]
    assert [p["name"] for p in params] == names
    assert all(p["in"] == "path" and p["required"] for p in params)


def _spec(tmp_path: Path, **settings: object) -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings.from_env({}, home=tmp_path, **settings)).openapi()
    return spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def test_every_operation_documents_its_errors_in_its_dialect(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422 shape is never sent
    for method, path, op in _operations(spec):
        tags = op.get("tags", [])
        openai = "openai" in tags
        prefix = "OpenAI" if openai else "TEI" if "tei" in tags else "Cohere" if "cohere" in tags else "HF"
        errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
        if path == "/health":
            assert not errors and op["security"] == []
            continue
        if path == "/files/{name}":  # the unguessable name is the key: no token, as OpenAI's image URLs
            assert "404" in errors and set(errors) <= {"400", "404"} and op["security"] == []
            continue
        assert {"401", "403"} <= set(errors), (method, path)
        assert op["security"] == [{"HTTPBearer": []}, {}]  # anonymous use is on by default
        assert not (openai and "422" in errors), (method, path)  # OpenAI's routes answer 400 instead
        for code, response in errors.items():
            name = prefix + ("Unavailable" if code == "503" else "Error")
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    unavailable = spec["components"]["schemas"]["HFUnavailable"]["properties"]
    assert set(unavailable) == {"error", "error_type", "estimated_time"}
    assert spec["components"]["schemas"]["TEIError"]["required"] == ["error", "error_type"]
    assert spec["components"]["schemas"]["CohereError"]["required"] == ["message"]
    assert {p for _, p, op in _operations(spec) if "tei" in op.get("tags", [])} >= {"/embed", "/rerank"}
    assert spec["components"]["schemas"]["OpenAIError"]["properties"]["error"]["required"] == [
        "message",
        "type",
        "param",
        "code",
    ]


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("post", "/v1/chat/completions", "ChatRequest"),
        ("post", "/models/{model}/v1/chat/completions", "BoundChatRequest"),
        ("post", "/v1/completions", "CompletionRequest"),
        ("post", "/generate", "GenerateRequest"),
        ("post", "/models/{namespace}/{name}/generate_stream", "GenerateRequest"),
        ("post", "/models/{namespace}/{name}", "Envelope"),
        ("post", "/hf-inference/pipeline/{task}/{name}", "Envelope"),
        ("post", "/", "Envelope"),
        ("put", "/api/models/{namespace}/{name}/settings", "RepoSettings"),
    ],
)
def test_hand_parsed_bodies_are_declared(tmp_path: Path, method: str, path: str, model: str) -> None:
    spec = _spec(tmp_path)
    body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{model}"}
    assert model in spec["components"]["schemas"]
    assert "x-hubserve-components" not in spec["paths"][path][method]


def test_inference_routes_name_the_statuses_they_can_answer(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    inference = {"400", "401", "403", "404", "408", "413", "424", "429", "500", "502", "503", "504"}
    for path in ("/models/{namespace}/{name}", "/generate", "/v1/chat/completions", "/v1/completions"):
        assert inference <= set(spec["paths"][path]["post"]["responses"]), path
    streamed = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(streamed) == {"application/json", "text/event-stream"}
    assert _spec(tmp_path, allow_anonymous=False)["paths"]["/api/ps"]["get"]["security"] == [
        {"HTTPBearer": []}
    ]


def _admin_token(home: Path) -> str:
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("root", is_admin=True)
    token = accounts.create_token("root", "docs", scopes=tuple(Scope)).token
    accounts.engine.dispose()
    return token


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("anonymous", [True, False])
async def test_docs_are_served_offline_and_behind_a_token_when_anonymous_use_is_off(
    tmp_path: Path, anonymous: bool
) -> None:
    token = _admin_token(tmp_path)
    app = create_app(Settings.from_env({}, home=tmp_path, allow_anonymous=anonymous, spare_runners=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/openapi.json", "/docs", "/redoc"):
                r = await client.get(path)
                assert r.status_code == (200 if anonymous else 401), (path, r.text)
                if not anonymous:
                    assert r.headers["x-error-type"] == "unauthorized"
                    r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                    assert r.status_code == 200, (path, r.text)
                if path == "/openapi.json":
                    assert r.json()["paths"]
                    continue
                assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
                assert assets and all(
                    a.startswith(("/docs/assets/", "/openapi.json", "data:")) for a in assets
                )
                assert "cdn" not in r.text and "fonts.googleapis" not in r.text
                for asset in (a for a in assets if a.startswith("/docs/assets/")):
                    got = await client.get(asset)
                    assert got.status_code == 200 and len(got.content) > 10_000, asset
