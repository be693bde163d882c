"""The task registry: task name → implementation, and how a request picks its task."""

from __future__ import annotations

from typing import Any

from hubserve.errors import TaskNotSupported
from hubserve.tasks.base import Envelope, Task
from hubserve.tasks.feature_extraction import FeatureExtraction
from hubserve.tasks.fill_mask import FillMask
from hubserve.tasks.question_answering import QuestionAnswering
from hubserve.tasks.sentence_similarity import SentenceSimilarity
from hubserve.tasks.text_classification import TextClassification
from hubserve.tasks.token_classification import TokenClassification
from hubserve.tasks.zero_shot_classification import ZeroShotClassification
from hubserve.types.manifest import Manifest

TASKS: dict[str, Task[Any]] = {
    task.name: task
    for task in (
        FeatureExtraction(),
        SentenceSimilarity(),
        TextClassification(),
        TokenClassification(),
        ZeroShotClassification(),
        FillMask(),
        QuestionAnswering(),
    )
}


# Tasks served by the generation engine rather than an encoder task module.
GENERATION_TASKS = frozenset({"text-generation"})


def supported_tasks() -> set[str]:
    """Names of every task hubserve can serve."""
    return set(TASKS) | GENERATION_TASKS


def resolve_task(manifest: Manifest, requested: str | None, envelope: Envelope) -> Task[Any]:
    """The task for a request: the one named in the URL, else the model's own, told apart by body shape.

    huggingface_hub sends every task of a model to the same URL, so a model that serves several tasks
    (an embedder: embeddings, similarity, zero-shot; an NLI model: classification, zero-shot) is asked
    for one of them only through the shape of ``inputs`` and ``parameters``.
    """
    if requested is not None:
        if requested not in TASKS:
            raise TaskNotSupported(
                f"Unknown task {requested!r}; valid: {', '.join(sorted(supported_tasks()))}"
            )
        if requested not in manifest.tasks:
            raise TaskNotSupported(
                f"Model {manifest.id} does not serve {requested}; it serves: {', '.join(manifest.tasks)}"
            )
        return TASKS[requested]
    tasks = set(manifest.tasks)
    if "zero-shot-classification" in tasks and "candidate_labels" in (envelope.parameters or {}):
        return TASKS["zero-shot-classification"]
    if {"feature-extraction", "sentence-similarity"} <= tasks:
        inputs = envelope.inputs
        is_pair = isinstance(inputs, dict) and "source_sentence" in inputs
        return TASKS["sentence-similarity" if is_pair else "feature-extraction"]
    return TASKS[manifest.pipeline_tag]
