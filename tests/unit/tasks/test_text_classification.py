from __future__ import annotations

from typing import Any

import pytest

from hubserve.errors import InputTooLong, ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-cls"
TEXTS = ["i love pizza", "the weather today is terrible and the game was bad"]


def _pairs(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(r["label"], pytest.approx(r["score"], abs=1e-4)) for r in rows]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_matches_transformers_pipeline(hub, reference, runtime: str) -> None:
    ours = run_task(hub, MODEL, "text-classification", TEXTS[0], runtime=runtime)
    ref = reference("text-classification", "cls")(TEXTS[0], top_k=None)
    assert len(ours) == 1
    assert [(r["label"], r["score"]) for r in ours[0]] == _pairs(ref)
    assert ours[0][0]["score"] >= ours[0][1]["score"]


@pytest.mark.parametrize("fn", ["sigmoid", "softmax", "none"])
def test_function_to_apply_and_top_k(hub, reference, fn: str) -> None:
    ours = run_task(hub, MODEL, "text-classification", TEXTS[1], {"function_to_apply": fn, "top_k": 1})
    ref = reference("text-classification", "cls")(TEXTS[1], top_k=1, function_to_apply=fn)
    assert [(r["label"], r["score"]) for r in ours[0]] == _pairs(ref)


def test_softmax_scores_sum_to_one(hub) -> None:
    ours = run_task(hub, MODEL, "text-classification", TEXTS[1])
    assert sum(r["score"] for r in ours[0]) == pytest.approx(1.0)


def test_batch_equals_single(hub) -> None:
    batch = run_task(hub, MODEL, "text-classification", TEXTS)
    singles = [run_task(hub, MODEL, "text-classification", t)[0] for t in TEXTS]
    assert len(batch) == 2
    for got, want in zip(batch, singles, strict=True):
        assert [(r["label"], r["score"]) for r in got] == _pairs(want)


@pytest.mark.parametrize(
    ("inputs", "params"),
    [
        (5, None),
        ([], None),
        ([""], None),
        (["ok", 3], None),
        ({"text_pair": "x"}, None),  # a pair needs its text
        ("fine", {"top_k": 0}),
        ("fine", {"function_to_apply": "tanh"}),
        ("fine", {"bogus": 1}),
    ],
)
def test_bad_input_is_a_validation_error(hub, inputs: Any, params: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "text-classification", inputs, params)


def test_over_long_input_is_refused(hub) -> None:
    with pytest.raises(InputTooLong, match="at most 64"):
        run_task(hub, MODEL, "text-classification", "pizza " * 200)


def test_pairs_match_transformers_pipeline(hub, reference) -> None:
    pair = {"text": "i love pizza", "text_pair": "the weather is terrible"}
    ours = run_task(hub, "test/tiny-nli", "text-classification", pair)
    ref = reference("text-classification", "nli")(pair, top_k=None)
    assert [(r["label"], r["score"]) for r in ours[0]] == _pairs(ref)
    mixed = run_task(
        hub, "test/tiny-nli", "text-classification", [[pair["text"], pair["text_pair"]], "i love pizza"]
    )
    assert mixed[0] == ours[0]
    assert mixed[1] == run_task(hub, "test/tiny-nli", "text-classification", "i love pizza")[0]


def test_truncation_is_asked_for(hub) -> None:
    long_text = " ".join(["pizza"] * 100)
    with pytest.raises(InputTooLong):
        run_task(hub, MODEL, "text-classification", long_text)
    right = run_task(hub, MODEL, "text-classification", long_text, {"truncate": True})
    left = run_task(
        hub,
        MODEL,
        "text-classification",
        "i love " + long_text,
        {"truncate": True, "truncation_direction": "left"},
    )
    assert len(right[0]) == len(left[0]) == 2


@pytest.mark.parametrize(
    "inputs",
    [
        {"text": "a", "text_pair": ""},
        {"text": 3},
        {"txt": "a"},
        [["a", "b", "c"]],
        [["a", 1]],
        [{"text": "a", "x": 1}],
    ],
)
def test_bad_pairs(hub, inputs: object) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "text-classification", inputs)
