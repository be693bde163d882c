"""text-classification: label scores per input, always nested ``[[{label, score}, ...]]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import (
    CallContext,
    Prepared,
    StrictParams,
    Task,
    id2label,
    sigmoid,
    softmax,
    text_list,
    tokenize,
)


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
        """A string or a list of strings."""
        return text_list(inputs, ctx)

    def run(self, model: LoadedEncoder, request: Prepared[TextClassificationParams]) -> Any:
        """Score each input; one inner list per input."""
        logits = model.forward(tokenize(model, request.inputs, truncate=False))["logits"]
        labels = id2label(model.config)
        fn = request.params.function_to_apply or default_function(model.config, logits.shape[-1])
        scores = SCORE_FUNCTIONS[fn](logits.astype(np.float64))
        return [ranked(row, labels, request.params.top_k) for row in scores]
