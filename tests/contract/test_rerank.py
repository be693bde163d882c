"""Reranking on a live server: TEI's /rerank, Cohere's and Jina's /v1/rerank, the HF route, and the fallback.

The tiny cross-encoder has random weights, so its scores mean nothing, but they are its own: each pair's
score must be what the model gives that pair alone, whatever else shares the batch.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import MINILM, running_server

RERANK = "test/tiny-rerank"
QUERY = "how do i cancel my subscription?"
DOCS = [
    "the weather is sunny in paris today",
    "tell me how to cancel the subscription plan",
    "i love pizza and football",
    "what is the price of the new plan?",
]


@pytest.fixture(scope="module")
def http(admin_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """Calls as the session's administrator, whose tier is unlimited: these tests spend none of the shared
    server's anonymous rate limit, whatever order the session runs its modules in."""
    with httpx.Client(headers=admin_headers, timeout=120) as client:
        yield client


def tei_rerank(http: httpx.Client, url: str, body: dict[str, Any], model: str = RERANK) -> httpx.Response:
    return http.post(f"{url}/models/{model}/rerank", json=body, timeout=120)


def scores_of(answer: list[dict[str, Any]]) -> list[float]:
    """The scores in the order the texts were sent."""
    return [r["score"] for r in sorted(answer, key=lambda r: r["index"])]


def test_tei_rerank_shape_and_order(http: httpx.Client, server: str) -> None:
    response = tei_rerank(http, server, {"query": QUERY, "texts": DOCS})
    assert response.status_code == 200, response.text
    assert response.headers["x-rerank-method"] == "cross-encoder"
    answer = response.json()
    assert sorted(r["index"] for r in answer) == [0, 1, 2, 3]
    assert all(set(r) == {"index", "score"} for r in answer)
    scores = [r["score"] for r in answer]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)  # sigmoid, best first
    with_text = tei_rerank(http, server, {"query": QUERY, "texts": DOCS, "return_text": True}).json()
    assert [r["text"] for r in with_text] == [DOCS[r["index"]] for r in answer]
    raw = tei_rerank(http, server, {"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert [r["index"] for r in raw] == [r["index"] for r in answer]  # sigmoid keeps the order
    for r, logit in zip(answer, (r["score"] for r in raw), strict=True):
        assert r["score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-6)


def test_batched_scores_equal_one_pair_at_a_time(http: httpx.Client, server: str) -> None:
    together = scores_of(tei_rerank(http, server, {"query": QUERY, "texts": DOCS}).json())
    alone = [scores_of(tei_rerank(http, server, {"query": QUERY, "texts": [d]}).json())[0] for d in DOCS]
    assert together == pytest.approx(alone, abs=1e-5)

    async def at_once() -> list[list[float]]:  # many requests at once: the batcher merges their pairs
        async with httpx.AsyncClient(headers=http.headers, timeout=120) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{server}/models/{RERANK}/rerank", json={"query": QUERY, "texts": [d, DOCS[0]]}
                    )
                    for d in DOCS * 4
                )
            )
        return [scores_of(r.json()) for r in responses]

    for i, pair in enumerate(asyncio.run(at_once())):
        assert pair == pytest.approx([alone[i % len(DOCS)], alone[0]], abs=1e-5)


def test_long_documents_are_refused_or_cut_as_asked(http: httpx.Client, server: str) -> None:
    long_doc = " ".join(["pizza"] * 200)
    refused = tei_rerank(http, server, {"query": QUERY, "texts": [long_doc]})
    assert refused.status_code == 413 and refused.json()["error_type"] == "Validation"
    assert refused.headers["x-error-type"] == "input_too_long"
    cut = tei_rerank(http, server, {"query": QUERY, "texts": [long_doc, DOCS[1]], "truncate": True})
    assert cut.status_code == 200 and len(cut.json()) == 2
    # Cohere's clients expect cutting by default; truncate=false refuses instead.
    cohere = http.post(f"{server}/v1/rerank", json={"model": RERANK, "query": QUERY, "documents": [long_doc]})
    assert cohere.status_code == 200
    strict = http.post(
        f"{server}/v1/rerank",
        json={"model": RERANK, "query": QUERY, "documents": [long_doc], "truncate": False},
    )
    assert strict.status_code == 413 and set(strict.json()) == {"message"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cohere_and_jina_shape(http: httpx.Client, server: str, version: str) -> None:
    tei_order = tei_rerank(http, server, {"query": QUERY, "texts": DOCS}).json()
    body = {"model": RERANK, "query": QUERY, "documents": DOCS, "top_n": 2, "return_documents": True}
    response = http.post(f"{server}/{version}/rerank", json=body, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [r["index"] for r in answer["results"]] == [r["index"] for r in tei_order[:2]]
    assert [r["relevance_score"] for r in answer["results"]] == pytest.approx(
        [r["score"] for r in tei_order[:2]]
    )
    assert [r["document"] for r in answer["results"]] == [{"text": DOCS[r["index"]]} for r in tei_order[:2]]
    assert answer["model"] == RERANK and answer["meta"]["api_version"]["version"] == version[1]
    assert answer["usage"]["total_tokens"] > len(DOCS) * 5
    bare = http.post(f"{server}/{version}/rerank", json={"model": RERANK, "query": QUERY, "documents": DOCS})
    assert len(bare.json()["results"]) == 4 and all("document" not in r for r in bare.json()["results"])


def test_cohere_documents_as_objects(http: httpx.Client, server: str) -> None:
    documents: list[Any] = [{"text": d, "id": i} for i, d in enumerate(DOCS)]
    body = {"model": RERANK, "query": QUERY, "documents": documents, "return_documents": True}
    answer = http.post(f"{server}/v1/rerank", json=body).json()
    plain = http.post(f"{server}/v1/rerank", json={"model": RERANK, "query": QUERY, "documents": DOCS}).json()
    assert [r["index"] for r in answer["results"]] == [r["index"] for r in plain["results"]]
    assert all(r["document"] == documents[r["index"]] for r in answer["results"])  # returned as sent
    fields = {"model": RERANK, "query": QUERY, "documents": [{"title": "plans", "body": "cancel"}]}
    ranked = http.post(f"{server}/v1/rerank", json={**fields, "rank_fields": ["title", "body"]})
    assert ranked.status_code == 200
    missing = http.post(f"{server}/v1/rerank", json=fields)
    assert missing.status_code == 422 and "text" in missing.json()["message"]


@pytest.mark.parametrize(
    ("route", "body", "status", "error_type"),
    [
        ("/models/test/tiny-rerank/rerank", {"query": QUERY, "texts": []}, 422, "validation"),
        ("/models/test/tiny-rerank/rerank", {"query": "", "texts": ["a"]}, 422, "validation"),
        ("/models/test/tiny-rerank/rerank", {"query": QUERY, "texts": ["a", " "]}, 422, "validation"),
        ("/models/test/tiny-rerank/rerank", {"query": QUERY}, 422, "validation"),
        ("/models/test/tiny-rerank/rerank", {"query": QUERY, "texts": "a"}, 422, "validation"),
        ("/models/test/tiny-ner/rerank", {"query": QUERY, "texts": ["a"]}, 400, "task_not_supported"),
        ("/v1/rerank", {"model": RERANK, "query": QUERY, "documents": []}, 422, "validation"),
        ("/v1/rerank", {"model": RERANK, "query": QUERY, "documents": DOCS, "top_n": 0}, 422, "validation"),
        ("/v1/rerank", {"model": RERANK, "query": QUERY, "documents": [3]}, 422, "validation"),
        (
            "/v1/rerank",
            {"model": "nobody/nothing", "query": QUERY, "documents": DOCS},
            404,
            "model_not_found",
        ),
        ("/v1/rerank", {"query": QUERY, "documents": DOCS}, 404, "no_default_model"),
    ],
)
def test_bad_rerank_requests(
    http: httpx.Client, server: str, route: str, body: Any, status: int, error_type: str
) -> None:
    response = http.post(f"{server}{route}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["x-error-type"] == error_type
    expected = {"message"} if route.startswith("/v1") else {"error", "error_type"}
    assert set(response.json()) == expected


def test_hf_route_ranks_and_scores_legacy_sentence_ranking(http: httpx.Client, server: str) -> None:
    url = f"{server}/models/{RERANK}"
    tei_order = tei_rerank(http, server, {"query": QUERY, "texts": DOCS}).json()
    response = http.post(url, json={"inputs": {"query": QUERY, "texts": DOCS}})
    assert response.status_code == 200 and response.headers["x-task"] == "text-ranking"
    assert [r["index"] for r in response.json()] == [r["index"] for r in tei_order]
    assert scores_of(response.json()) == pytest.approx(scores_of(tei_order), abs=1e-6)
    legacy = http.post(
        f"{server}/pipeline/sentence-ranking/{RERANK}",
        json={"inputs": {"source_sentence": QUERY, "sentences": DOCS}},
    )
    assert legacy.status_code == 200, legacy.text
    assert legacy.json() == pytest.approx(scores_of(tei_order))  # a score per sentence, in order
    classify = http.post(url, json={"inputs": "i love pizza"})  # the head still classifies
    assert classify.status_code == 200 and classify.headers["x-task"] == "text-classification"


def test_an_embedding_model_reranks_by_cosine_and_says_so(http: httpx.Client, server: str) -> None:
    texts = [
        "The weather in Paris is sunny today.",
        "How can I end my subscription?",
        "Pizza is my favourite food.",
    ]
    response = http.post(
        f"{server}/models/{MINILM}/rerank", json={"query": "How do I cancel my subscription?", "texts": texts}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-rerank-method"] == "cosine-similarity"
    answer = response.json()
    assert answer[0]["index"] == 1 and answer[0]["score"] > 0.5 > answer[1]["score"]
    cohere = http.post(
        f"{server}/v1/rerank",
        json={"model": MINILM, "query": "How do I cancel my subscription?", "documents": texts},
    )
    assert cohere.headers["x-rerank-method"] == "cosine-similarity"
    assert [r["index"] for r in cohere.json()["results"]] == [r["index"] for r in answer]


@pytest.fixture(scope="module")
def default_server(hub_home: Path) -> Iterator[str]:
    with running_server(
        hub_home, HUBSERVE_DEFAULT_MODEL="test/tiny-embed", HUBSERVE_HOLD_COLD_REQUESTS_S="120"
    ) as (url, _):
        yield url


def test_root_routes_serve_the_default_model(http: httpx.Client, default_server: str) -> None:
    embed = http.post(f"{default_server}/embed", json={"inputs": ["i love pizza"]}, timeout=120)
    named = http.post(f"{default_server}/models/test/tiny-embed/embed", json={"inputs": ["i love pizza"]})
    assert embed.status_code == 200
    np.testing.assert_allclose(embed.json(), named.json(), atol=1e-6)
    rerank = http.post(f"{default_server}/rerank", json={"query": QUERY, "texts": DOCS})
    assert rerank.status_code == 200 and rerank.headers["x-rerank-method"] == "cosine-similarity"
    cohere = http.post(f"{default_server}/v1/rerank", json={"query": QUERY, "documents": DOCS})
    assert [r["index"] for r in cohere.json()["results"]] == [r["index"] for r in rerank.json()]
    tokens = http.post(f"{default_server}/tokenize", json={"inputs": "pizza"}).json()
    assert [t["text"] for t in tokens[0]] == ["[CLS]", "pizza", "[SEP]"]
