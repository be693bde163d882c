"""Hostile and edge-case bodies in every dialect, in-process: each a 4xx in the route's shape, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from hubserve.config import Settings
from hubserve.gateway.json_body import JsonTooDeep, parse_json
from hubserve.types.generation import MAX_SEED, Constraint
from tests.unit.gateway import test_dialects_asgi as asgi

pytestmark = pytest.mark.anyio
anyio_backend, backend, client = asgi.anyio_backend, asgi.backend, asgi.client
CLS, GEN = asgi.CLS, asgi.GEN
SAY = [{"role": "user", "content": "say hi"}]


def nested(depth: int) -> bytes:
    return b"[" * depth + b'"x"' + b"]" * depth


async def post(client: httpx.AsyncClient, path: str, body: bytes | object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(path, content=content, headers={"content-type": "application/json"})


def test_depth_is_counted_without_recursion_up_to_the_limit() -> None:
    assert parse_json(nested(64), max_depth=64) is not None
    assert parse_json(b'{"a": [1, {"b": [2]}], "c": "[[[[[[[[[["}', max_depth=4)["c"] == "[" * 10
    with pytest.raises(JsonTooDeep):
        parse_json(nested(65), max_depth=64)
    with pytest.raises(JsonTooDeep):  # past orjson's own ceiling: the same error, not "invalid JSON"
        parse_json(nested(10_000), max_depth=64)
    assert Settings.from_env({"HUBSERVE_MAX_JSON_DEPTH": "8"}).max_json_depth == 8
    assert Settings().max_json_depth == 64


@pytest.mark.parametrize("depth", [100, 10_000])
async def test_deep_json_is_json_too_deep_in_each_dialect(client: httpx.AsyncClient, depth: int) -> None:
    deep = nested(depth)
    r = await post(client, "/v1/completions", b'{"model": "%s", "prompt": %s}' % (GEN.encode(), deep))
    assert r.status_code == 400 and r.headers["x-error-type"] == "json_too_deep"
    assert r.json()["error"]["code"] == "json_too_deep" and set(r.json()["error"]) >= {"message", "type"}
    r = await post(client, "/v1/chat/completions", b'{"model": "x", "messages": %s}' % deep)
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"
    for path in (f"/models/{CLS}", f"/models/{GEN}/generate"):
        r = await post(client, path, b'{"inputs": %s}' % deep)
        assert r.status_code == 422 and r.headers["x-error-type"] == "json_too_deep"
        assert set(r.json()) == {"error"} and "HUBSERVE_MAX_JSON_DEPTH" in r.json()["error"]


async def test_a_lone_surrogate_is_refused_as_invalid_json(client: httpx.AsyncClient) -> None:
    r = await post(client, "/v1/completions", b'{"model": "%s", "prompt": "\\ud800"}' % GEN.encode())
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation"
    assert "surrogate" in r.json()["error"]["message"]
    r = await post(client, f"/models/{GEN}/generate", b'{"inputs": "a \\udc00 b"}')
    assert r.status_code == 422 and r.json()["error_type"] == "validation"


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, MAX_SEED + 2])
async def test_a_seed_out_of_u64_is_refused_in_every_dialect(
    client: httpx.AsyncClient, backend: asgi.FakeBackend, seed: int
) -> None:
    r = await post(client, "/v1/completions", {"model": GEN, "prompt": "a b", "seed": seed})
    assert r.status_code == 400 and r.json()["error"]["param"] == "seed"
    r = await post(client, "/v1/chat/completions", {"model": GEN, "messages": SAY, "seed": seed})
    assert r.status_code == 400 and r.json()["error"]["param"] == "seed"
    tgi = {"inputs": "a b", "parameters": {"seed": seed}}
    for path in (f"/models/{GEN}/generate", f"/models/{GEN}"):
        r = await post(client, path, tgi)
        assert r.status_code == 422 and r.json()["error_type"] == "validation", r.text
        assert "seed" in r.json()["error"]
    assert GEN not in backend.runners or not backend.runners[GEN].generates


async def test_the_largest_seed_reaches_the_runner(
    client: httpx.AsyncClient, backend: asgi.FakeBackend
) -> None:
    r = await post(client, "/v1/completions", {"model": GEN, "prompt": "a b", "seed": MAX_SEED})
    assert r.status_code == 200, r.text
    r = await post(client, f"/models/{GEN}/generate", {"inputs": "a b", "parameters": {"seed": 0}})
    assert r.status_code == 200, r.text
    assert [c.params.seed for c in backend.runners[GEN].generates] == [MAX_SEED, 0]


async def test_completions_honour_response_format(
    client: httpx.AsyncClient, backend: asgi.FakeBackend
) -> None:
    body = {"model": GEN, "prompt": "a b", "response_format": {"type": "regex", "value": "[0-9]+"}}
    assert (await post(client, "/v1/completions", body)).status_code == 200
    body["response_format"] = {"type": "json_object"}
    assert (await post(client, "/v1/completions", body)).status_code == 200
    constraints = [c.params.constraint for c in backend.runners[GEN].generates]
    assert constraints == [Constraint("regex", "[0-9]+"), Constraint("json")]
    body["response_format"] = {"type": "yaml"}
    r = await post(client, "/v1/completions", body)
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


async def test_the_urls_model_wins_and_the_bodys_is_optional(
    client: httpx.AsyncClient, backend: asgi.FakeBackend
) -> None:
    r = await post(client, f"/models/{GEN}/v1/chat/completions", {"messages": SAY})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == GEN
    r = await post(client, f"/models/{GEN}/v1/chat/completions", {"model": CLS, "messages": SAY})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == GEN and len(backend.runners[GEN].generates) == 2
    r = await post(client, "/v1/chat/completions", {"messages": SAY})  # no URL model: the body must name one
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


async def test_no_default_model_says_how_to_set_one(client: httpx.AsyncClient) -> None:
    for path, body in [
        ("/generate", {"inputs": "hi"}),
        ("/generate_stream", {"inputs": "hi"}),
        ("/", {"inputs": "hi"}),
        ("/v1/chat/completions", {"model": "dummy", "messages": SAY}),
    ]:
        r = await post(client, path, body)
        assert r.status_code == 404 and r.headers["x-error-type"] == "no_default_model", (path, r.text)
        message = r.json()["error"] if path != "/v1/chat/completions" else r.json()["error"]["message"]
        assert "HUBSERVE_DEFAULT_MODEL" in message and "None" not in message


@pytest.mark.parametrize("key", ["99999999999999999999", "1e3", " 5", "+5"])
async def test_a_logit_bias_key_outside_int64_is_refused(client: httpx.AsyncClient, key: str) -> None:
    r = await post(client, "/v1/completions", {"model": GEN, "prompt": "a b", "logit_bias": {key: 1}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias", r.text


@pytest.mark.parametrize("header", ["X-Keep-Alive", "X-Scale-Up-Timeout"])
async def test_a_nan_serving_header_is_refused(client: httpx.AsyncClient, header: str) -> None:
    r = await client.post(f"/models/{GEN}/generate", json={"inputs": "a b"}, headers={header: "nan"})
    assert r.status_code == 422 and r.json()["error_type"] == "validation" and header in r.json()["error"]
