from __future__ import annotations

from typing import Any

import pytest

from hubserve.errors import ValidationFailed
from hubserve.tasks.base import CallContext
from hubserve.tasks.zero_shot_classification import legacy_shape, wants_list_shape
from tests.unit.tasks.helpers import run_task

TEXT = "i love pizza and football"
LABELS = ["food", "sports", "politics"]


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_nli_matches_transformers(hub, reference, multi: bool, runtime: str) -> None:
    params = {"candidate_labels": LABELS, "multi_label": multi, "hypothesis_template": "this is about {}."}
    ours = run_task(hub, "test/tiny-nli", "zero-shot-classification", TEXT, params, runtime=runtime)
    ref = reference("zero-shot-classification", "nli")(
        TEXT, candidate_labels=LABELS, multi_label=multi, hypothesis_template="this is about {}."
    )
    assert [r["label"] for r in ours] == ref["labels"]
    assert [r["score"] for r in ours] == pytest.approx(ref["scores"], abs=1e-4)
    if not multi:
        assert sum(r["score"] for r in ours) == pytest.approx(1.0)


def test_embedding_model_ranks_by_similarity(hub) -> None:
    ours = run_task(hub, "test/tiny-embed", "zero-shot-classification", TEXT, {"candidate_labels": LABELS})
    assert sorted(r["label"] for r in ours) == sorted(LABELS)
    assert [r["score"] for r in ours] == sorted((r["score"] for r in ours), reverse=True)
    assert sum(r["score"] for r in ours) == pytest.approx(1.0)


def test_comma_separated_labels(hub) -> None:
    ours = run_task(
        hub, "test/tiny-nli", "zero-shot-classification", TEXT, {"candidate_labels": "food, sports"}
    )
    assert sorted(r["label"] for r in ours) == ["food", "sports"]


def test_shape_by_client_version() -> None:
    assert wants_list_shape(CallContext(hf_hub_version=(2, 4, 0)))
    assert wants_list_shape(CallContext(hf_hub_version=(1, 2, 0)))
    assert not wants_list_shape(CallContext(hf_hub_version=(1, 1, 9)))
    assert not wants_list_shape(CallContext(hf_hub_version=(0, 30, 2)))
    assert wants_list_shape(CallContext(hf_hub_version=None))
    legacy = legacy_shape("t", [{"label": "a", "score": 0.7}, {"label": "b", "score": 0.3}])
    assert legacy == {"sequence": "t", "labels": ["a", "b"], "scores": [0.7, 0.3]}


@pytest.mark.parametrize(
    ("inputs", "params"),
    [
        (TEXT, None),
        (TEXT, {"candidate_labels": []}),
        (TEXT, {"candidate_labels": ["a", "a"]}),
        (TEXT, {"candidate_labels": ["a"], "hypothesis_template": "no slot"}),
        (TEXT, {"candidate_labels": ["a"], "hypothesis_template": "{} and {}"}),
        (TEXT, {"candidate_labels": ["a"], "hypothesis_template": "{label} {}"}),
        (TEXT, {"candidate_labels": ["a"], "hypothesis_template": "{} }"}),
        ("", {"candidate_labels": ["a"]}),
        (["a", "b"], {"candidate_labels": ["a"]}),
    ],
)
def test_bad_input(hub, inputs: Any, params: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, "test/tiny-nli", "zero-shot-classification", inputs, params)


def test_embedding_model_default_hypothesis_and_independent_multi_label_scores(hub) -> None:
    import numpy as np

    from hubserve.tasks.zero_shot_classification import (
        MULTI_LABEL_TEMPERATURE,
        MULTI_LABEL_THRESHOLD,
        SIMILARITY_TEMPLATE,
    )

    model = "test/tiny-embed"
    default = run_task(hub, model, "zero-shot-classification", TEXT, {"candidate_labels": LABELS})
    given = {"candidate_labels": LABELS, "hypothesis_template": SIMILARITY_TEMPLATE}
    assert run_task(hub, model, "zero-shot-classification", TEXT, given) == default
    nli_default = {"candidate_labels": LABELS, "hypothesis_template": "This example is {}."}
    assert run_task(hub, model, "zero-shot-classification", TEXT, nli_default) != default

    hypotheses = [SIMILARITY_TEMPLATE.format(label) for label in LABELS]
    vectors = np.asarray(run_task(hub, model, "feature-extraction", [TEXT, *hypotheses]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = dict(zip(LABELS, vectors[1:] @ vectors[0], strict=True))
    multi = run_task(
        hub, model, "zero-shot-classification", TEXT, {"candidate_labels": LABELS, "multi_label": True}
    )
    for item in multi:
        logit = (cosine[item["label"]] - MULTI_LABEL_THRESHOLD) / MULTI_LABEL_TEMPERATURE
        expected = 1 / (1 + np.exp(-logit))
        assert item["score"] == pytest.approx(expected, abs=1e-4)
    alone = run_task(
        hub, model, "zero-shot-classification", TEXT, {"candidate_labels": [LABELS[0]], "multi_label": True}
    )
    assert alone[0]["score"] == pytest.approx(next(m["score"] for m in multi if m["label"] == LABELS[0]))
