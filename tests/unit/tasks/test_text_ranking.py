"""text-ranking agrees with sentence-transformers' own CrossEncoder on the tiny cross-encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hubserve.errors import InputTooLong, ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-rerank"
QUERY = "how do i cancel my subscription?"
DOCS = ["tell me how to cancel the plan", "i love pizza", "the weather is sunny in paris"]


@pytest.fixture(scope="module")
def cross_encoder(tiny_dirs: dict[str, Path]):  # type: ignore[no-untyped-def]
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(tiny_dirs["rerank"]), device="cpu")


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_scores_match_sentence_transformers(hub, cross_encoder, runtime: str) -> None:
    rows = run_task(hub, MODEL, "text-ranking", {"query": QUERY, "texts": DOCS}, runtime=runtime)
    expected = cross_encoder.predict([(QUERY, d) for d in DOCS])
    np.testing.assert_allclose(rows[:, 0], expected, atol=1e-5)
    raw = run_task(hub, MODEL, "text-ranking", {"query": QUERY, "texts": DOCS}, {"raw_scores": True})
    np.testing.assert_allclose(
        raw[:, 0],
        cross_encoder.predict([(QUERY, d) for d in DOCS], activation_fn=torch.nn.Identity()),
        atol=1e-5,
    )
    tokens = cross_encoder.tokenizer([QUERY] * 3, DOCS)["input_ids"]
    assert rows[:, 1].tolist() == [len(t) for t in tokens]  # what each pair cost


def test_legacy_inputs_and_truncation(hub) -> None:
    legacy = run_task(hub, MODEL, "text-ranking", {"source_sentence": QUERY, "sentences": DOCS})
    modern = run_task(hub, MODEL, "text-ranking", {"query": QUERY, "texts": DOCS})
    np.testing.assert_array_equal(legacy, modern)
    long_doc = " ".join(["pizza"] * 200)
    with pytest.raises(InputTooLong):
        run_task(hub, MODEL, "text-ranking", {"query": QUERY, "texts": [long_doc]})
    cut = run_task(hub, MODEL, "text-ranking", {"query": QUERY, "texts": [long_doc]}, {"truncate": True})
    assert cut[0, 1] == 128  # the model's whole length, the document cut to fit


@pytest.mark.parametrize(
    "inputs",
    [
        "just a string",
        ["a", "b"],
        {"query": QUERY},
        {"query": QUERY, "texts": []},
        {"query": " ", "texts": ["a"]},
        {"query": QUERY, "texts": ["a", ""]},
        {"query": QUERY, "texts": ["a"], "top_n": 1},
        {"source_sentence": QUERY, "sentences": "a"},
    ],
)
def test_bad_inputs(hub, inputs: object) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "text-ranking", inputs)
