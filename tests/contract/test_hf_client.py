"""The official huggingface_hub InferenceClient against a live hubserve on loopback."""

from __future__ import annotations

import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError


def client(server: str, model: str) -> InferenceClient:
    return InferenceClient(model=f"{server}/models/{model}", token="unused")


def test_feature_extraction(server: str) -> None:
    out = client(server, "test/tiny-embed").feature_extraction("i love pizza")
    assert isinstance(out, np.ndarray) and out.shape == (1, 32)
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-4)
    batch = client(server, "test/tiny-embed").feature_extraction(
        ["i love pizza", "sunny weather"], normalize=False
    )
    assert batch.shape == (2, 32)
    np.testing.assert_allclose(batch[0] / np.linalg.norm(batch[0]), out[0], atol=1e-5)


def test_sentence_similarity(server: str) -> None:
    scores = client(server, "test/tiny-embed").sentence_similarity(
        "i love pizza", ["i love pizza", "the weather"]
    )
    assert len(scores) == 2
    assert scores[0] == pytest.approx(1.0, abs=1e-4)
    assert scores[1] < scores[0]


def test_text_classification(server: str) -> None:
    out = client(server, "test/tiny-cls").text_classification("i love pizza")
    assert {o.label for o in out} == {"POSITIVE", "NEGATIVE"}
    assert sum(o.score for o in out) == pytest.approx(1.0, abs=1e-5)
    top = client(server, "test/tiny-cls").text_classification(
        "i love pizza", top_k=1, function_to_apply="sigmoid"
    )
    assert len(top) == 1 and top[0].label == out[0].label


def test_token_classification(server: str) -> None:
    text = "my name is john smith and i live in paris"
    simple = client(server, "test/tiny-ner").token_classification(text)
    assert simple and all(e.entity_group in {"PER", "LOC"} for e in simple)
    for e in simple:
        assert 0 <= e.start < e.end <= len(text)
    tokens = client(server, "test/tiny-ner").token_classification(text, aggregation_strategy="none")
    assert tokens and all(e.entity in {"B-PER", "I-PER", "B-LOC", "I-LOC"} for e in tokens)


def test_zero_shot_nli_and_embedding(server: str) -> None:
    labels = ["food", "sports", "politics"]
    for model in ("test/tiny-nli", "test/tiny-embed"):
        out = client(server, model).zero_shot_classification("i love pizza", labels)
        assert sorted(o.label for o in out) == sorted(labels)
        assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)
    multi = client(server, "test/tiny-nli").zero_shot_classification("i love pizza", labels, multi_label=True)
    assert sum(o.score for o in multi) != pytest.approx(1.0)


def test_fill_mask(server: str) -> None:
    out = client(server, "test/tiny-mlm").fill_mask("i love [MASK].", top_k=3)
    assert len(out) == 3
    for o in out:
        assert o.sequence == f"i love {o.token_str}."
    assert out[0].score >= out[1].score >= out[2].score


def test_question_answering(server: str) -> None:
    context = "my name is john smith and i live in paris."
    out = client(server, "test/tiny-qa").question_answering(question="where do i live?", context=context)
    assert context[out.start : out.end] == out.answer
    many = client(server, "test/tiny-qa").question_answering(question="where?", context=context, top_k=3)
    assert isinstance(many, list) and len(many) == 3


def test_health_and_info(server: str) -> None:
    hf = InferenceClient(base_url=server, provider="hf-inference", token="unused")
    assert hf.health_check() is True
    info = hf.get_endpoint_info()
    assert info["models"] >= 6


def test_unknown_model_error_carries_message(server: str) -> None:
    with pytest.raises(HfHubHTTPError) as caught:
        client(server, "test/missing").text_classification("hi")
    assert caught.value.response.status_code == 404
    assert "test/missing does not exist" in str(caught.value)


def test_wrong_task_is_400(server: str) -> None:
    with pytest.raises(HfHubHTTPError) as caught:
        InferenceClient(model=f"{server}/models/test/tiny-cls/pipeline/fill-mask").fill_mask("a [MASK]")
    assert caught.value.response.status_code == 400
    assert "does not serve fill-mask" in str(caught.value)
