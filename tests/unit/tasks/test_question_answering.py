from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubserve.errors import ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-qa"
QUESTION = "where does john live?"
CONTEXT = "my name is john smith and i live in paris. mary jones lives in london."
LONG_CONTEXT = " ".join([CONTEXT] * 6)


def _answers(rows: Any) -> list[tuple[Any, ...]]:
    rows = rows if isinstance(rows, list) else [rows]
    return [(r["answer"], r["start"], r["end"], round(r["score"], 4)) for r in rows]


def brute_force(folder: Path, question: str, context: str, top_k: int, max_answer_len: int = 15) -> list[Any]:
    """Reference: score every (start, end) pair of context tokens with torch, no vectorised tricks."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForQuestionAnswering.from_pretrained(str(folder)).eval()
    enc = tokenizer(question, context, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        out = model(**enc)
    allowed = [i == 0 or s == 1 for i, s in enumerate(enc.sequence_ids(0))]
    mask = torch.tensor(allowed)
    start = torch.where(mask, out.start_logits[0], torch.tensor(-10000.0)).softmax(-1)
    end = torch.where(mask, out.end_logits[0], torch.tensor(-10000.0)).softmax(-1)
    spans = []
    for s in range(1, len(allowed)):
        for e in range(s, min(s + max_answer_len, len(allowed))):
            if allowed[s] and allowed[e]:
                a, b = int(offsets[s][0]), int(offsets[e][1])
                spans.append(
                    {"score": float(start[s] * end[e]), "start": a, "end": b, "answer": context[a:b]}
                )
    return sorted(spans, key=lambda x: -x["score"])[:top_k]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_matches_brute_force(hub, tiny_dirs, runtime: str) -> None:
    inputs = {"question": QUESTION, "context": CONTEXT}
    ours = run_task(
        hub, MODEL, "question-answering", inputs, {"top_k": 3, "align_to_words": False}, runtime=runtime
    )
    ref = brute_force(tiny_dirs["qa"], QUESTION, CONTEXT, 3)
    assert _answers(ours) == _answers(ref)
    best = run_task(hub, MODEL, "question-answering", inputs, {"align_to_words": False}, runtime=runtime)
    assert isinstance(best, dict) and _answers(best) == _answers(ref[0])


def test_answers_align_to_words(hub) -> None:
    ours = run_task(
        hub, MODEL, "question-answering", {"question": QUESTION, "context": CONTEXT}, {"top_k": 5}
    )
    for answer in ours:
        assert CONTEXT[answer["start"] : answer["end"]] == answer["answer"]
        before = CONTEXT[answer["start"] - 1 : answer["start"]]
        after = CONTEXT[answer["end"] : answer["end"] + 1]
        assert not before.isalnum() and not after.isalnum()


def test_long_context_reads_every_window(hub) -> None:
    params = {"top_k": 50, "max_seq_len": 48, "doc_stride": 16, "align_to_words": False}
    ours = run_task(hub, MODEL, "question-answering", {"question": QUESTION, "context": LONG_CONTEXT}, params)
    assert max(a["end"] for a in ours) > len(LONG_CONTEXT) * 0.8, (
        "answers must come from the last windows too"
    )
    assert min(a["start"] for a in ours) < len(LONG_CONTEXT) * 0.2
    for answer in ours:
        assert LONG_CONTEXT[answer["start"] : answer["end"]] == answer["answer"]


def test_impossible_answer_is_offered(hub) -> None:
    ours = run_task(
        hub,
        MODEL,
        "question-answering",
        {"question": QUESTION, "context": CONTEXT},
        {"handle_impossible_answer": True, "top_k": 500},
    )
    assert any(a["answer"] == "" and a["start"] == a["end"] == 0 for a in ours)


@pytest.mark.parametrize(
    "inputs",
    [
        "just a string",
        {"question": "q"},
        {"question": "", "context": "c"},
        {"question": "q", "context": 5},
        {"question": "q", "context": "c", "extra": 1},
    ],
)
def test_bad_inputs(hub, inputs: Any) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "question-answering", inputs)
