"""text-classification: label scores per input, always nested ``[[{label, score}, ...]]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from hubserve.errors import ValidationFailed
from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import (
    CallContext,
    Prepared,
    StrictParams,
    Task,
    check_count,
    id2label,
    sigmoid,
    softmax,
    text_list,
    tokenize,
    truncating_from,
)

_INPUTS = (
    '`inputs` must be a string, {"text": str, "text_pair": str}, or a list of strings, '
    '["text", "text_pair"] pairs and such objects'
)
_EMPTY = "`inputs` must not contain empty strings"


def _identity(x: Array) -> Array:
    return x


SCORE_FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "softmax": softmax,
    "sigmoid": sigmoid,
    "none": _identity,
}


class TextClassificationParams(StrictParams):
    """``top_k`` labels to return (all when absent) and the score function."""

    top_k: int | None = Field(default=None, ge=1)
    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = None
    truncate: bool = False
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"


def default_function(config: dict[str, Any], num_labels: int) -> str:
    """What transformers would apply: sigmoid for multi-label or single-logit heads, else softmax."""
    if config.get("problem_type") == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def ranked(scores: Array, labels: dict[int, str], top_k: int | None) -> list[dict[str, Any]]:
    """``[{label, score}]`` sorted by score, highest first."""
    order = np.argsort(-scores, kind="stable")[: top_k or len(scores)]
    return [{"label": labels.get(int(i), f"LABEL_{int(i)}"), "score": float(scores[i])} for i in order]


class TextClassification(Task[TextClassificationParams]):
    """Sequence classification."""

    name = "text-classification"
    head = "sequence-classification"
    params_model = TextClassificationParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """Texts, or pairs of texts (an NLI premise and hypothesis, a query and a passage).

        A pair is ``{"text", "text_pair"}`` (transformers' pipeline) or, inside a list,
        ``["text", "text_pair"]`` (TEI's predict); it becomes ``[text, text_pair]``.
        """
        if isinstance(inputs, dict):
            return [_pair(inputs)], True
        if not isinstance(inputs, list) or all(isinstance(x, str) for x in inputs):
            return text_list(inputs, ctx)
        items = [x if isinstance(x, str) else _pair(x) for x in inputs]
        check_count(len(items), ctx)
        if any(isinstance(x, str) and not x.strip() for x in items):
            raise ValidationFailed(_EMPTY, param="inputs")
        return items, False

    def run(self, model: LoadedEncoder, request: Prepared[TextClassificationParams]) -> Any:
        """Score each input; one inner list per input."""
        p = request.params
        batch = [x if isinstance(x, str) else (x[0], x[1]) for x in request.inputs]
        with truncating_from(model, p.truncation_direction):
            encoding = tokenize(model, batch, truncate=p.truncate)
        logits = model.forward(encoding)["logits"]
        labels = id2label(model.config)
        fn = request.params.function_to_apply or default_function(model.config, logits.shape[-1])
        scores = SCORE_FUNCTIONS[fn](logits.astype(np.float64))
        return [ranked(row, labels, request.params.top_k) for row in scores]


def _pair(item: Any) -> str | list[str]:
    """``{"text", "text_pair"}`` or ``[text, text_pair]`` as ``[text, text_pair]``; a lone text as itself."""
    if isinstance(item, dict) and set(item) <= {"text", "text_pair"}:
        parts = [item.get("text"), *([item["text_pair"]] if item.get("text_pair") is not None else [])]
    elif isinstance(item, list) and len(item) in (1, 2):
        parts = list(item)
    else:
        raise ValidationFailed(_INPUTS, param="inputs")
    if not all(isinstance(t, str) for t in parts):
        raise ValidationFailed(_INPUTS, param="inputs")
    if not all(t.strip() for t in parts):
        raise ValidationFailed(_EMPTY, param="inputs")
    return parts[0] if len(parts) == 1 else parts
