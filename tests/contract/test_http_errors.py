"""Raw HTTP against the live server: routes, legacy forms, and bad input of every kind."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest


def post(server: str, path: str, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server}{path}", content=content, timeout=30, **kw)


def test_pipeline_and_legacy_routes_agree(server: str) -> None:
    body = {"inputs": "i love pizza"}
    a = post(server, "/models/test/tiny-cls", body)
    b = post(server, "/models/test/tiny-cls/pipeline/text-classification", body)
    c = post(server, "/pipeline/text-classification/test/tiny-cls", body)
    assert a.status_code == b.status_code == c.status_code == 200
    assert a.json() == b.json() == c.json()
    assert a.headers["x-compute-type"] == "cpu"
    assert float(a.headers["x-compute-time"]) > 0


def test_embedding_url_dispatches_on_body_shape(server: str) -> None:
    emb = post(server, "/models/test/tiny-embed", {"inputs": ["a b", "c"]})
    sim = post(
        server, "/models/test/tiny-embed", {"inputs": {"source_sentence": "a", "sentences": ["b", "c"]}}
    )
    assert emb.headers["x-task"] == "feature-extraction" and len(emb.json()) == 2
    assert sim.headers["x-task"] == "sentence-similarity" and len(sim.json()) == 2


def test_zero_shot_shape_follows_client_version(server: str) -> None:
    body = {"inputs": "i love pizza", "parameters": {"candidate_labels": ["food", "sports"]}}
    new = post(
        server,
        "/models/test/tiny-nli/pipeline/zero-shot-classification",
        body,
        headers={"user-agent": "unknown/None; hf_hub/2.4.0; python/3.11"},
    ).json()
    old = post(
        server,
        "/models/test/tiny-nli/pipeline/zero-shot-classification",
        body,
        headers={"user-agent": "unknown/None; hf_hub/1.1.3; python/3.11"},
    ).json()
    assert isinstance(new, list) and {"label", "score"} == set(new[0])
    assert old == {
        "sequence": "i love pizza",
        "labels": [r["label"] for r in new],
        "scores": [r["score"] for r in new],
    }


def test_legacy_options_accepted(server: str) -> None:
    r = post(
        server,
        "/models/test/tiny-cls",
        {"inputs": "hi", "options": {"use_cache": False, "wait_for_model": True}},
    )
    assert r.status_code == 200
    bad = post(server, "/models/test/tiny-cls", {"inputs": "hi", "options": {"wait_for_model": "soon"}})
    assert bad.status_code == 422 and bad.headers["x-error-type"] == "validation"


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type"),
    [
        ("/models/test/tiny-cls", b"", 422, "validation"),
        ("/models/test/tiny-cls", b"{not json", 422, "validation"),
        ("/models/test/tiny-cls", b"\xff\xfe", 422, "validation"),
        ("/models/test/tiny-cls", [1, 2], 422, "validation"),
        ("/models/test/tiny-cls", {"parameters": {}}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": None}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": 3.5}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": []}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": ""}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": "x", "parameters": {"top_k": "many"}}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": "x", "parameters": []}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": "x", "parameters": {"nope": 1}}, 422, "validation"),
        ("/models/test/tiny-cls", {"inputs": "pizza " * 300}, 413, "input_too_long"),
        ("/models/test/nothing", {"inputs": "x"}, 404, "model_not_found"),
        ("/models/test/tiny-cls/pipeline/fill-mask", {"inputs": "x"}, 400, "task_not_supported"),
        ("/models/test/tiny-cls/pipeline/teleport", {"inputs": "x"}, 400, "task_not_supported"),
        ("/models/te st/x", {"inputs": "x"}, 400, "invalid_model_id"),
        ("/models/test/..", {"inputs": "x"}, 404, "not_found"),
        ("/models/a/b/c/d", {"inputs": "x"}, 404, "not_found"),
        ("/", {"inputs": "x"}, 404, "no_default_model"),
        ("/models/test/tiny-mlm", {"inputs": "no mask"}, 422, "validation"),
        ("/models/test/tiny-qa", {"inputs": {"question": "q"}}, 422, "validation"),
    ],
)
def test_bad_input(server: str, path: str, body: Any, status: int, error_type: str) -> None:
    r = post(server, path, body)
    assert r.status_code == status, r.text
    assert r.headers["x-error-type"] == error_type
    assert r.json()["error"]


def test_body_over_limit_is_413(server: str) -> None:
    big = {"inputs": "x" * (300 * 1024)}
    r = post(server, "/models/test/tiny-cls", big)
    assert r.status_code == 413 and r.headers["x-error-type"] == "payload_too_large"


def test_chunked_body_over_limit_is_413(server: str) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"inputs": "'
        for _ in range(40):
            yield b"y" * 8192
        yield b'"}'

    r = httpx.post(f"{server}/models/test/tiny-cls", content=chunks(), timeout=30)
    assert r.status_code == 413 and r.headers["x-error-type"] == "payload_too_large"


def test_wrong_method(server: str) -> None:
    r = httpx.get(f"{server}/models/test/tiny-cls")
    assert r.status_code == 405 and r.headers["x-error-type"] == "method_not_allowed"


def test_model_list_and_info(server: str) -> None:
    models = httpx.get(f"{server}/api/models").json()
    ids = {m["id"] for m in models}
    assert {"test/tiny-cls", "test/tiny-embed", "sentence-transformers/all-MiniLM-L6-v2"} <= ids
    ner = httpx.get(f"{server}/api/models", params={"pipeline_tag": "token-classification"}).json()
    assert {m["id"] for m in ner} == {"test/tiny-ner", "arcjet/sensitive-info-rampart"}
    one = httpx.get(f"{server}/api/models/test/tiny-qa").json()
    assert one["pipeline_tag"] == "question-answering"
    assert any(s["rfilename"] == "model.safetensors" for s in one["siblings"])
    info = httpx.get(f"{server}/models/test/tiny-qa/info").json()
    assert info["model_id"] == "test/tiny-qa" and info["max_input_length"] == 64
    assert httpx.get(f"{server}/api/models/test/none").status_code == 404


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Scale-Up-Timeout", "soon"), ("X-Scale-Up-Timeout", "-3"), ("X-Keep-Alive", "forever")],
)
def test_bad_serving_headers(server: str, header: str, value: str) -> None:
    r = post(
        server, "/models/test/tiny-cls", {"inputs": "hi"}, headers={header: value, "X-Use-Cache": "false"}
    )
    assert r.status_code == 422
    assert r.headers["x-error-type"] == "validation" and header in r.json()["error"]


def test_admin_routes_refuse_bad_ids(server: str, admin_headers: dict[str, str]) -> None:
    r = httpx.post(f"{server}/api/models/te st/x/load", headers=admin_headers)
    assert r.headers["x-error-type"] == "invalid_model_id"
    assert httpx.get(f"{server}/models/test/missing/info").status_code == 404
    assert httpx.get(f"{server}/api/models/a/b/c").status_code == 404
