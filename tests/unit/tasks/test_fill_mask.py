from __future__ import annotations

from typing import Any

import pytest

from hubserve.errors import ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-mlm"


def _rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["token"], r["token_str"], r["sequence"], round(r["score"], 5)) for r in rows]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_matches_transformers(hub, reference, runtime: str) -> None:
    text = "my name is [MASK] smith."
    ours = run_task(hub, MODEL, "fill-mask", text, {"top_k": 3}, runtime=runtime)
    ref = reference("fill-mask", "mlm")(text, top_k=3)
    assert len(ours) == 3
    assert _rows(ours) == _rows(ref)


def test_targets(hub, reference) -> None:
    text = "i love [MASK]."
    ours = run_task(hub, MODEL, "fill-mask", text, {"targets": ["pizza", "music", "football"]})
    ref = reference("fill-mask", "mlm")(text, targets=["pizza", "music", "football"])
    assert {r["token_str"] for r in ours} == {"pizza", "music", "football"}
    assert _rows(ours) == _rows(ref)


def test_two_masks_give_one_list_per_mask(hub, reference) -> None:
    text = "[MASK] lives in [MASK]."
    ours = run_task(hub, MODEL, "fill-mask", text, {"top_k": 2})
    ref = reference("fill-mask", "mlm")(text, top_k=2)
    assert len(ours) == 2 and all(len(m) == 2 for m in ours)
    assert [_rows(m) for m in ours] == [_rows(m) for m in ref]


def test_batch_equals_single(hub) -> None:
    texts = ["i love [MASK].", "the weather today is [MASK] and the game was bad"]
    batch = run_task(hub, MODEL, "fill-mask", texts)
    assert [_rows(b) for b in batch] == [_rows(run_task(hub, MODEL, "fill-mask", t)) for t in texts]


@pytest.mark.parametrize(
    ("inputs", "params"),
    [
        ("no mask here", None),
        ("a [MASK]", {"top_k": 0}),
        ("a [MASK]", {"targets": []}),
        ("a [MASK]", {"targets": [""]}),
    ],
)
def test_bad_input(hub, inputs: Any, params: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "fill-mask", inputs, params)
