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
        ("", {"candidate_labels": ["a"]}),
        (["a", "b"], {"candidate_labels": ["a"]}),
    ],
)
def test_bad_input(hub, inputs: Any, params: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, "test/tiny-nli", "zero-shot-classification", inputs, params)
