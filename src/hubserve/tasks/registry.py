"""The task registry: task name → implementation, and how a request picks its task."""

from __future__ import annotations

from typing import Any

from hubserve.errors import TaskNotSupported
from hubserve.tasks.automatic_speech_recognition import AutomaticSpeechRecognition
from hubserve.tasks.base import Envelope, Task
from hubserve.tasks.feature_extraction import FeatureExtraction
from hubserve.tasks.file_classification import (
    AudioClassification,
    ImageClassification,
    ImageToText,
    ObjectDetection,
)
from hubserve.tasks.fill_mask import FillMask
from hubserve.tasks.question_answering import QuestionAnswering
from hubserve.tasks.sentence_similarity import SentenceSimilarity
from hubserve.tasks.text_classification import TextClassification
from hubserve.tasks.text_ranking import TextRanking
from hubserve.tasks.text_to_image import TextToImage
from hubserve.tasks.text_to_speech import TextToSpeech
from hubserve.tasks.text_to_text import Summarization, Text2TextGeneration, Translation
from hubserve.tasks.token_classification import TokenClassification
from hubserve.tasks.tokens import Decode, Tokenize
from hubserve.tasks.zero_shot_classification import ZeroShotClassification
from hubserve.types.manifest import Manifest
from hubserve.types.task_names import HUB_TASKS, TASK_ALIASES

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
        TextRanking(),
        Tokenize(),
        Decode(),
        AutomaticSpeechRecognition(),
        TextToSpeech(),
        Summarization(),
        Translation(),
        Text2TextGeneration(),
        TextToImage(),
        ImageClassification(),
        ObjectDetection(),
        ImageToText(),
        AudioClassification(),
    )
}
# Calls on any encoder's tokenizer (TEI's /tokenize and /decode): no model is imported for them.
TOKENIZER_TASKS = frozenset({Tokenize.name, Decode.name})


# Tasks whose input is a file: a body that is not JSON is the file itself.
BINARY_INPUT_TASKS = frozenset(
    {
        AutomaticSpeechRecognition.name,
        AudioClassification.name,
        ImageClassification.name,
        ImageToText.name,
        ObjectDetection.name,
    }
)

# Tasks served by the generation engine rather than an encoder task module.
GENERATION_TASKS = frozenset({"text-generation"})


def supported_tasks() -> set[str]:
    """Names of every task a model can be imported for."""
    return (set(TASKS) - TOKENIZER_TASKS) | GENERATION_TASKS


def unsupported_tasks() -> set[str]:
    """The Hub's inference tasks no model here can serve."""
    return set(HUB_TASKS) - supported_tasks()


def resolve_task(manifest: Manifest, requested: str | None, envelope: Envelope) -> Task[Any]:
    """The task for a request: the one named in the URL, else the model's own, told apart by body shape.

    huggingface_hub sends every task of a model to the same URL, so a model that serves several tasks
    (an embedder: embeddings, similarity, zero-shot; an NLI model: classification, zero-shot) is asked
    for one of them only through the shape of ``inputs`` and ``parameters``.
    """
    if requested is not None:
        requested = TASK_ALIASES.get(requested, requested)
        if requested not in TASKS or requested in TOKENIZER_TASKS:
            known = "hubserve does not serve" if requested in HUB_TASKS else "Unknown"
            raise TaskNotSupported(
                f"{known} task {requested!r}; the tasks it serves: {', '.join(sorted(supported_tasks()))}"
            )
        if requested not in manifest.tasks:
            raise TaskNotSupported(
                f"Model {manifest.id} does not serve {requested}; it serves: {', '.join(manifest.tasks)}"
            )
        return TASKS[requested]
    tasks = set(manifest.tasks)
    if TextRanking.name in tasks:  # a cross-encoder: a query and its texts rank; texts and pairs classify
        ranks = _is_ranking(envelope.inputs) or TextClassification.name not in tasks
        return TASKS[TextRanking.name if ranks else TextClassification.name]
    if "translation" in tasks and {"src_lang", "tgt_lang"} & set(envelope.parameters or {}):
        return TASKS["translation"]  # a seq2seq model that also summarizes: languages say translate
    if "zero-shot-classification" in tasks and "candidate_labels" in (envelope.parameters or {}):
        return TASKS["zero-shot-classification"]
    if {"feature-extraction", "sentence-similarity"} <= tasks:
        inputs = envelope.inputs
        is_pair = isinstance(inputs, dict) and "source_sentence" in inputs
        return TASKS["sentence-similarity" if is_pair else "feature-extraction"]
    return TASKS[manifest.pipeline_tag]


def _is_ranking(inputs: Any) -> bool:
    """An object that is not a text pair: TEI's ``{query, texts}``, or ``{source_sentence, sentences}``."""
    return isinstance(inputs, dict) and "text" not in inputs
