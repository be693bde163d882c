from __future__ import annotations

from typing import Any

import pytest

from hubserve.errors import ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-ner"
TEXTS = [
    "my name is john smith and i live in paris",
    "mary jones works at google in new york, email mary@example",
    "xyzzy qwerty london",
]


def _norm(entities: list[dict[str, Any]], key: str) -> list[tuple[Any, ...]]:
    # Scores within 1e-4, not rounded to 4 places: ONNX and torch differ in the last float32 bits, and
    # rounding turns a difference of 1e-6 across a boundary (0.51845) into one of 1e-4.
    return [
        (e[key], e["word"], e["start"], e["end"], pytest.approx(float(e["score"]), abs=1e-4))
        for e in entities
    ]


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
@pytest.mark.parametrize("text", TEXTS)
def test_aggregation_matches_transformers(hub, reference, strategy: str, text: str) -> None:
    ours = run_task(hub, MODEL, "token-classification", text, {"aggregation_strategy": strategy})
    ref = reference("token-classification", "ner")(text, aggregation_strategy=strategy)
    assert ours, "the tiny model must tag something for this comparison to mean anything"
    assert _norm(ours, "entity_group") == _norm(ref, "entity_group")


@pytest.mark.parametrize("text", TEXTS)
def test_no_aggregation_matches_transformers(hub, reference, text: str) -> None:
    ours = run_task(hub, MODEL, "token-classification", text, {"aggregation_strategy": "none"})
    ref = reference("token-classification", "ner")(text, aggregation_strategy="none")
    assert [e["index"] for e in ours] == [e["index"] for e in ref]
    assert _norm(ours, "entity") == _norm(ref, "entity")


def test_spans_index_the_original_text(hub) -> None:
    text = TEXTS[0]
    for e in run_task(hub, MODEL, "token-classification", text):
        assert text[e["start"] : e["end"]].lower().replace(" ", "") == e["word"].replace(" ", "")


def test_ignore_labels(hub) -> None:
    everything = run_task(hub, MODEL, "token-classification", TEXTS[1], {"ignore_labels": []})
    groups = {e["entity_group"] for e in everything}
    assert len(groups) >= 2
    dropped = sorted(groups)[0]
    kept = run_task(hub, MODEL, "token-classification", TEXTS[1], {"ignore_labels": [dropped]})
    assert kept and all(e["entity_group"] != dropped for e in kept)


def test_batch_equals_single(hub) -> None:
    batch = run_task(hub, MODEL, "token-classification", TEXTS)
    singles = [run_task(hub, MODEL, "token-classification", t) for t in TEXTS]
    assert [_norm(b, "entity_group") for b in batch] == [_norm(s, "entity_group") for s in singles]


@pytest.mark.parametrize(
    "params", [{"aggregation_strategy": "longest"}, {"stride": 16}, {"ignore_labels": "O"}]
)
def test_bad_parameters(hub, params: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "token-classification", TEXTS[0], params)
