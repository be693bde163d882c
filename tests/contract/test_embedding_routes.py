"""OpenAI's /v1/embeddings through the official client, and TEI's routes over plain HTTP, on a live server.

TEI's shapes are those of its README and OpenAPI document (text-embeddings-inference v1.9): ``/embed``
answers ``[[float]]``, ``/predict`` ``[{score, label}]`` (a list of them per input for a batch),
``/tokenize`` ``[[{id, text, special, start, stop}]]``, ``/decode`` ``[str]``, and errors
``{"error", "error_type"}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from tests.conftest import MINILM

EMBED = "test/tiny-embed"  # 32 dimensions, normalised, takes 48 tokens
TEXTS = ["i love pizza", "the weather is sunny today", "where does john smith live?"]
LONG = " ".join(["pizza"] * 80)


@pytest.fixture(scope="module")
def http(admin_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """Calls as the session's administrator, whose tier is unlimited: these tests spend none of the shared
    server's anonymous rate limit, whatever order the session runs its modules in."""
    with httpx.Client(headers=admin_headers, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def oai(server: str, admin_headers: dict[str, str]) -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key=token_of(admin_headers), max_retries=0)


def token_of(headers: Any) -> str:
    return httpx.Headers(headers)["authorization"].removeprefix("Bearer ")


def hf_vectors(http: httpx.Client, server: str, model: str, texts: list[str]) -> np.ndarray:
    client = InferenceClient(model=f"{server}/models/{model}", token=token_of(http.headers))
    return np.asarray(client.feature_extraction(texts))


def same_scores(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Two ``[{label, score}]`` answers agree: the same labels in the same order, scores to 1e-6."""
    return [r["label"] for r in a] == [r["label"] for r in b] and all(
        abs(x["score"] - y["score"]) < 1e-6 for x, y in zip(a, b, strict=True)
    )


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("model", [EMBED, MINILM])
def test_openai_client_matches_the_hf_route_in_both_encodings(
    http: httpx.Client, server: str, oai: OpenAI, model: str
) -> None:
    expected = hf_vectors(http, server, model, TEXTS)
    default = oai.embeddings.create(model=model, input=TEXTS)  # the client asks for base64 and decodes it
    floats = oai.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    for answer in (default, floats):
        assert answer.object == "list" and answer.model == model
        assert [d.index for d in answer.data] == [0, 1, 2]
        got = np.asarray([d.embedding for d in answer.data])
        assert got.shape == expected.shape
        np.testing.assert_allclose(cosine(got, expected), 1.0, atol=1e-6)
    assert default.usage.prompt_tokens == floats.usage.prompt_tokens == default.usage.total_tokens
    assert default.usage.prompt_tokens > len(TEXTS) * 2  # each text's words plus [CLS] and [SEP]


def test_wire_shapes_of_float_and_base64(http: httpx.Client, server: str) -> None:
    body = {"model": EMBED, "input": "i love pizza"}
    floats = http.post(f"{server}/v1/embeddings", json=body).json()
    b64 = http.post(f"{server}/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    vector = floats["data"][0]["embedding"]
    assert isinstance(vector, list) and len(vector) == 32 and floats["data"][0]["object"] == "embedding"
    decoded = np.frombuffer(__import__("base64").b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, np.asarray(vector, dtype=np.float32))


def test_token_id_inputs_embed_as_their_text(http: httpx.Client, server: str, oai: OpenAI) -> None:
    tokens = http.post(f"{server}/models/{EMBED}/tokenize", json={"inputs": TEXTS[:2]}).json()
    ids = [[t["id"] for t in row] for row in tokens]
    by_text = np.asarray([d.embedding for d in oai.embeddings.create(model=EMBED, input=TEXTS[:2]).data])
    by_ids = oai.embeddings.create(model=EMBED, input=ids)
    np.testing.assert_allclose(np.asarray([d.embedding for d in by_ids.data]), by_text, atol=1e-5)
    assert by_ids.usage.prompt_tokens == sum(len(row) for row in ids)
    one = oai.embeddings.create(model=EMBED, input=ids[0], encoding_format="float")  # one list of ids
    np.testing.assert_allclose(one.data[0].embedding, by_text[0], atol=1e-5)


def test_dimensions_cut_and_renormalise(oai: OpenAI) -> None:
    full = np.asarray(oai.embeddings.create(model=EMBED, input="i love pizza").data[0].embedding)
    cut = np.asarray(oai.embeddings.create(model=EMBED, input="i love pizza", dimensions=8).data[0].embedding)
    assert cut.shape == (8,)
    assert np.linalg.norm(cut) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(cut, full[:8] / np.linalg.norm(full[:8]), atol=1e-5)
    with pytest.raises(openai.BadRequestError) as error:
        oai.embeddings.create(model=EMBED, input="i love pizza", dimensions=33)
    assert error.value.code == "validation" and "32" in error.value.message


def test_long_input_is_refused_unless_the_request_truncates(oai: OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        oai.embeddings.create(model=EMBED, input=LONG)
    assert error.value.status_code == 413 and error.value.code == "input_too_long"
    assert "truncate" in error.value.message
    right = oai.embeddings.create(model=EMBED, input=LONG, extra_body={"truncate": True})
    left = oai.embeddings.create(
        model=EMBED, input=LONG + " weather", extra_body={"truncate": True, "truncation_direction": "left"}
    )
    assert right.usage.prompt_tokens == left.usage.prompt_tokens == 48
    assert right.data[0].embedding != left.data[0].embedding  # each kept a different end


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": EMBED, "input": []}, 400, "validation"),
        ({"model": EMBED, "input": ["ok", ""]}, 400, "validation"),
        ({"model": EMBED, "input": [1, -2]}, 400, "validation"),
        ({"model": EMBED, "input": [[1, 2], [True]]}, 400, "validation"),
        ({"model": EMBED, "input": [[1, 2], 3]}, 400, "validation"),
        ({"model": EMBED, "input": [[5, 999999]]}, 400, "validation"),
        ({"model": EMBED, "input": {"text": "x"}}, 400, "validation"),
        ({"model": EMBED, "input": "x", "encoding_format": "int8"}, 400, "validation"),
        ({"model": EMBED, "input": "x", "dimensions": 0}, 400, "validation"),
        ({"model": EMBED, "input": "x", "prompt_name": "nope"}, 400, "unknown_option"),
        ({"model": EMBED, "input": "x", "colour": "red"}, 400, "validation"),
        ({"input": "x"}, 400, "validation"),
        ({"model": "test/tiny-ner", "input": "x"}, 400, "task_not_supported"),
        ({"model": "nobody/nothing", "input": "x"}, 404, "model_not_found"),
    ],
)
def test_bad_embedding_requests_get_openai_errors(
    http: httpx.Client, server: str, body: Any, status: int, code: str
) -> None:
    response = http.post(f"{server}/v1/embeddings", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["type"] == "invalid_request_error"
    assert response.headers["x-error-type"] == code


def test_the_official_client_raises_on_errors(oai: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="nobody/nothing", input="x")


# ---- TEI --------------------------------------------------------------------------------------------


def tei(http: httpx.Client, server: str, route: str, body: Any, model: str = EMBED) -> httpx.Response:
    return http.post(f"{server}/models/{model}/{route}", json=body)


def test_tei_embed_matches_the_hf_route(http: httpx.Client, server: str) -> None:
    expected = hf_vectors(http, server, EMBED, TEXTS)
    one = tei(http, server, "embed", {"inputs": TEXTS[0]})
    assert one.status_code == 200
    assert np.asarray(one.json()).shape == (1, 32)  # TEI nests even one input
    many = np.asarray(tei(http, server, "embed", {"inputs": TEXTS}).json())
    np.testing.assert_allclose(many, expected, atol=1e-5)
    raw = np.asarray(tei(http, server, "embed", {"inputs": TEXTS, "normalize": False}).json())
    np.testing.assert_allclose(cosine(raw, expected), 1.0, atol=1e-6)
    assert abs(np.linalg.norm(raw[0]) - 1.0) > 1e-3  # really not normalised
    cut = np.asarray(tei(http, server, "embed", {"inputs": TEXTS, "dimensions": 4}).json())
    assert cut.shape == (3, 4)
    prompted = np.asarray(tei(http, server, "embed", {"inputs": "pizza", "prompt_name": "query"}).json())
    np.testing.assert_allclose(prompted[0], hf_vectors(http, server, EMBED, ["what is pizza"])[0], atol=1e-5)


def test_tei_embed_truncation_and_errors(http: httpx.Client, server: str) -> None:
    refused = tei(http, server, "embed", {"inputs": LONG})
    assert refused.status_code == 413
    assert (
        refused.json()["error_type"] == "Validation" and refused.headers["x-error-type"] == "input_too_long"
    )
    assert tei(http, server, "embed", {"inputs": LONG, "truncate": True}).status_code == 200
    for body in (
        {"inputs": []},
        {"inputs": 5},
        {"input": "x"},
        {"inputs": "x", "truncation_direction": "up"},
    ):
        bad = tei(http, server, "embed", body)
        assert bad.status_code == 422, body
        assert set(bad.json()) == {"error", "error_type"} and bad.json()["error_type"] == "Validation"
    wrong = tei(http, server, "embed", {"inputs": "x"}, model="test/tiny-ner")
    assert wrong.status_code == 400 and wrong.json()["error_type"] == "Validation"
    missing = tei(http, server, "embed", {"inputs": "x"}, model="nobody/nothing")
    assert missing.status_code == 404 and missing.headers["x-error-type"] == "model_not_found"


def test_tei_tokenize_and_decode_round_trip(http: httpx.Client, server: str) -> None:
    text = "my name is john"
    tokens = tei(http, server, "tokenize", {"inputs": text}).json()
    assert len(tokens) == 1
    first, *words, last = tokens[0]
    assert first == {"id": 2, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert last["text"] == "[SEP]" and last["special"]
    assert [w["text"] for w in words] == ["my", "name", "is", "john"]
    assert [(w["start"], w["stop"]) for w in words] == [(0, 2), (3, 7), (8, 10), (11, 15)]
    plain = tei(http, server, "tokenize", {"inputs": [text, "pizza"], "add_special_tokens": False}).json()
    assert [len(row) for row in plain] == [4, 1]
    ids = [t["id"] for t in tokens[0]]
    assert tei(http, server, "decode", {"ids": ids}).json() == [text]
    with_specials = tei(http, server, "decode", {"ids": [ids, ids[1:3]], "skip_special_tokens": False}).json()
    assert with_specials == [f"[CLS] {text} [SEP]", "my name"]
    for body in ({"inputs": []}, {"inputs": 5}, {"inputs": ["a", ""]}, {"text": "a"}):
        bad = tei(http, server, "tokenize", body)
        assert bad.status_code == 422 and bad.json()["error_type"] == "Validation", body
        assert bad.headers["x-error-type"] == "validation"
    unknown = tei(http, server, "tokenize", {"inputs": "a", "prompt_name": "nope"})
    assert unknown.status_code == 400 and unknown.headers["x-error-type"] == "unknown_option"
    for body in ({"ids": []}, {"ids": [1, -1]}, {"ids": ["a"]}, {"ids": [10**9]}):
        bad = tei(http, server, "decode", body)
        assert bad.status_code == 422 and bad.json()["error_type"] == "Validation", body


def test_tei_predict_texts_and_pairs(http: httpx.Client, server: str) -> None:
    hf = InferenceClient(model=f"{server}/models/test/tiny-cls", token=token_of(http.headers))
    expected = hf.text_classification("i love pizza", top_k=2)
    one = tei(http, server, "predict", {"inputs": "i love pizza"}, model="test/tiny-cls").json()
    assert [r["label"] for r in one] == [e.label for e in expected]
    assert [r["score"] for r in one] == pytest.approx([e.score for e in expected], abs=1e-6)
    pair = tei(
        http, server, "predict", {"inputs": ["i love pizza", "i hate pizza"]}, model="test/tiny-cls"
    ).json()
    assert {r["label"] for r in pair} == {"POSITIVE", "NEGATIVE"}  # one pair, one answer
    batch = tei(
        http,
        server,
        "predict",
        {"inputs": [["i love pizza"], ["i love pizza", "i hate pizza"]]},
        model="test/tiny-cls",
    ).json()
    assert len(batch) == 2
    assert same_scores(batch[0], one) and same_scores(batch[1], pair)
    raw = tei(
        http, server, "predict", {"inputs": "i love pizza", "raw_scores": True}, model="test/tiny-cls"
    ).json()
    assert sum(r["score"] for r in raw) != pytest.approx(1.0)  # logits, not probabilities
    bad = tei(http, server, "predict", {"inputs": ["a", "b", "c"]}, model="test/tiny-cls")
    assert bad.status_code == 422 and bad.json()["error_type"] == "Validation"


def test_hf_route_takes_text_pairs(http: httpx.Client, server: str) -> None:
    url = f"{server}/models/test/tiny-nli"
    pair = http.post(url, json={"inputs": {"text": "i love pizza", "text_pair": "i like pizza"}})
    as_list = http.post(url, json={"inputs": [["i love pizza", "i like pizza"], "i love pizza"]})
    assert pair.status_code == as_list.status_code == 200, pair.text
    assert same_scores(as_list.json()[0], pair.json()[0])
    assert as_list.json()[0] != as_list.json()[1]  # the pair is not its first text alone
    empty = http.post(url, json={"inputs": {"text": "i love pizza", "text_pair": " "}})
    assert empty.status_code == 422 and empty.headers["x-error-type"] == "validation"


def test_tei_routes_at_the_root_serve_the_default_model(http: httpx.Client, server: str) -> None:
    # The session server names no default model: TEI's root routes say so, in TEI's shape.
    response = http.post(f"{server}/embed", json={"inputs": "x"})
    assert response.status_code == 404 and response.json()["error_type"] == "Validation"
    assert response.headers["x-error-type"] == "no_default_model"
    assert "HUBSERVE_DEFAULT_MODEL" in response.json()["error"]


def test_info_has_teis_model_type(http: httpx.Client, server: str) -> None:
    embed = http.get(f"{server}/models/{EMBED}/info").json()
    assert embed["model_type"] == {"embedding": {"pooling": "mean"}} and embed["max_input_length"] == 64
    ranker = http.get(f"{server}/models/test/tiny-rerank/info").json()
    assert ranker["model_type"] == {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
    classifier = http.get(f"{server}/models/test/tiny-cls/info").json()
    assert classifier["model_type"]["classifier"]["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert embed["model_architecture"] == "bert"
