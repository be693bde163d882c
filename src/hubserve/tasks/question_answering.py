"""question-answering: extractive answers (a span of the context) for a question."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import CallContext, Prepared, StrictParams, Task, parse_model

_MASKED = -10000.0


class QAInputs(BaseModel):
    """``{"question": str, "context": str}``."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    context: str = Field(min_length=1)


class QAParams(StrictParams):
    """The parameters of transformers' question-answering pipeline."""

    top_k: int = Field(default=1, ge=1)
    doc_stride: int = Field(default=128, ge=0)
    max_answer_len: int = Field(default=15, ge=1)
    max_seq_len: int = Field(default=384, ge=8)
    max_question_len: int = Field(default=64, ge=1)
    handle_impossible_answer: bool = False
    align_to_words: bool = True


class QuestionAnswering(Task[QAParams]):
    """Find the answer span; long contexts are read in overlapping windows."""

    name = "question-answering"
    head = "question-answering"
    params_model = QAParams
    inputs_model = QAInputs

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """Question and context, both non-empty."""
        parsed = parse_model(QAInputs, inputs, where="inputs")
        assert isinstance(parsed, QAInputs)
        return parsed, True

    def run(self, model: LoadedEncoder, request: Prepared[QAParams]) -> Any:
        """The best answers across all windows; an object when top_k is 1, else a list."""
        p = request.params
        qa: QAInputs = request.inputs
        max_len = min(p.max_seq_len, model.max_length)
        stride = min(p.doc_stride, max_len // 2)
        encoding = model.tokenizer(
            qa.question,
            qa.context,
            truncation="only_second",
            max_length=max_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="np",
        )
        encoding.pop("overflow_to_sample_mapping", None)
        offsets = encoding.pop("offset_mapping")
        out = model.forward(encoding)
        answers: list[dict[str, Any]] = []
        null_score = 1.0
        for window in range(out["start_logits"].shape[0]):
            in_context = np.asarray([s == 1 for s in encoding.sequence_ids(window)])
            in_context &= np.asarray(encoding["attention_mask"][window]) == 1
            start, end = (
                _probs(out["start_logits"][window], in_context),
                _probs(out["end_logits"][window], in_context),
            )
            null_score = min(null_score, float(start[0] * end[0]))
            answers += _spans(start, end, encoding, window, offsets[window], qa.context, p)
        if p.handle_impossible_answer:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        answers = _dedupe(sorted(answers, key=lambda a: -a["score"]))[: p.top_k]
        return answers[0] if p.top_k == 1 else answers


def _probs(logits: Array, allowed: Array) -> Array:
    masked = np.where(allowed, logits.astype(np.float64), _MASKED)
    masked[0] = logits[0]  # keep [CLS] for the "no answer" score
    e = np.exp(masked - masked.max())
    out: Array = e / e.sum()
    return out


def _spans(
    start: Array, end: Array, encoding: Any, window: int, offsets: Array, context: str, p: QAParams
) -> list[dict[str, Any]]:
    start = start.copy()
    end = end.copy()
    start[0] = end[0] = 0.0  # [CLS] is not an answer span
    scores = np.triu(np.outer(start, end)) - np.triu(np.outer(start, end), p.max_answer_len)
    flat = np.argsort(-scores.ravel(), kind="stable")[: p.top_k]
    out = []
    for idx in flat:
        s, e = np.unravel_index(idx, scores.shape)
        if scores[s, e] <= 0:
            continue
        char_start, char_end = int(offsets[s][0]), int(offsets[e][1])
        if p.align_to_words:
            char_start, char_end = _word_bounds(encoding, window, int(s), int(e), (char_start, char_end))
        out.append(
            {
                "score": float(scores[s, e]),
                "start": char_start,
                "end": char_end,
                "answer": context[char_start:char_end],
            }
        )
    return out


def _word_bounds(encoding: Any, window: int, s: int, e: int, fallback: tuple[int, int]) -> tuple[int, int]:
    """Widen a token span to the words it touches, as the tokenizer's pre-tokenizer split them."""
    first, last = encoding.token_to_word(window, s), encoding.token_to_word(window, e)
    if first is None or last is None:
        return fallback
    return (
        encoding.word_to_chars(window, first, sequence_index=1).start,
        encoding.word_to_chars(window, last, sequence_index=1).end,
    )


def _dedupe(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[int, int]] = set()
    out = []
    for answer in answers:
        key = (answer["start"], answer["end"])
        if key not in seen:
            seen.add(key)
            out.append(answer)
    return out
