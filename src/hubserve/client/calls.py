"""The SDK's calls without I/O: what each method sends, and how its answer is read.

Every task method of both clients is one row of ``TASKS``: its HF task, the positional arguments that
make its ``inputs``, the keyword parameters it takes (huggingface_hub's names), and the reader of its
answer. Bodies are huggingface_hub's for the same method (``inference/_providers/hf_inference.py`` in
2.4.0): ``{"inputs", "parameters"}`` posted to ``/models/{id}/pipeline/{task}``, feature-extraction's
parameters beside ``inputs``, and a file sent as itself unless parameters come with it (then base64).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import quote

from hubserve.client import results as r

Inputs = Literal["text", "file"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One HTTP request, as data: the shells send it."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Safe to send again after the server may have started it: reads, and encoders (a pure function of
    # the input, cheap and unbilled twice over). Generation and media are not.
    idempotent: bool = True


@dataclasses.dataclass(frozen=True)
class Task:
    """One task method: its arguments, its HF task and how its answer is read."""

    task: str
    arguments: tuple[str, ...]
    parameters: tuple[str, ...]
    parse: Callable[[Any], Any]
    inputs: Callable[..., Any] = lambda first: first
    in_parameters: tuple[str, ...] = ()  # arguments sent among the parameters (zero-shot's labels)
    kind: Inputs = "text"
    root_parameters: bool = False
    idempotent: bool = True
    binary_answer: bool = False
    doc: str = ""


def model_path(model: str) -> str:
    """A model id in a URL path: ``org/name`` keeps its slash."""
    return quote(model, safe="/")


def bind(spec: Task, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The ``inputs`` and parameters of a method call, checked as Python checks a signature."""
    if len(args) > len(spec.arguments):
        raise TypeError(f"{name}() takes {len(spec.arguments)} positional arguments, got {len(args)}")
    given = dict(zip(spec.arguments, args, strict=False))
    for key in spec.arguments[len(args) :]:
        if key in kwargs:
            given[key] = kwargs.pop(key)
    missing = [a for a in spec.arguments if a not in given and a not in spec.in_parameters]
    if missing:
        raise TypeError(f"{name}() is missing its argument {missing[0]!r}")
    unknown = sorted(set(kwargs) - set(spec.parameters))
    if unknown:
        allowed = ", ".join((*spec.parameters, "model")) or "model"
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r} (it takes {allowed})")
    parameters = {k: v for k, v in kwargs.items() if v is not None}
    for key in spec.in_parameters:
        if given.get(key) is not None:
            parameters[key] = given[key]
    inputs = spec.inputs(*(given[a] for a in spec.arguments if a not in spec.in_parameters))
    return inputs, parameters


def task_call(
    spec: Task,
    model: str | None,
    inputs: Any,
    parameters: Mapping[str, Any],
    content_type: str = "application/octet-stream",
) -> Call:
    """The request of a task method; ``inputs`` is already bytes for a file task, of ``content_type``."""
    chosen = dict(parameters)
    path = f"/models/{model_path(model)}/pipeline/{spec.task}" if model else "/"
    if spec.kind == "file":
        if not chosen:
            headers = {"Content-Type": content_type}
            return Call("POST", path, content=inputs, headers=headers, idempotent=spec.idempotent)
        inputs = base64.b64encode(inputs).decode()
    body = {"inputs": inputs, **chosen} if spec.root_parameters else {"inputs": inputs, "parameters": chosen}
    return Call("POST", path, json=body, idempotent=spec.idempotent)


def _embedding(answer: Any) -> Any:
    import numpy as np  # numpy only when embeddings are asked for: `import hubserve` stays light

    return np.asarray(answer, dtype=np.float32)


def _labels(cls: type[r.ClassificationOutputElement]) -> Callable[[Any], list[Any]]:
    def parse(answer: Any) -> list[Any]:
        if isinstance(answer, dict) and "labels" in answer:  # zero-shot's older {sequence, labels, scores}
            pairs = zip(answer["labels"], answer["scores"], strict=True)
            answer = [{"label": k, "score": s} for k, s in pairs]
        rows = answer[0] if answer and isinstance(answer[0], list) else answer
        return [r.read(cls, row) for row in rows]

    return parse


def _many(cls: type[Any]) -> Callable[[Any], list[Any]]:
    def parse(answer: Any) -> list[Any]:
        rows = answer[0] if answer and isinstance(answer[0], list) else answer
        return [r.read(cls, row) for row in rows]

    return parse


def _first(cls: type[Any]) -> Callable[[Any], Any]:
    def parse(answer: Any) -> Any:
        return r.read(cls, answer[0] if isinstance(answer, list) else answer)

    return parse


def _answers(answer: Any) -> Any:
    if isinstance(answer, list):
        return [r.read(r.QuestionAnsweringOutputElement, a) for a in answer]
    return r.read(r.QuestionAnsweringOutputElement, answer)


def _image(answer: bytes) -> Any:
    import io

    from PIL import Image  # Pillow only when an image is asked for

    return Image.open(io.BytesIO(answer))


TASKS: dict[str, Task] = {
    "feature_extraction": Task(
        "feature-extraction",
        ("text",),
        ("normalize", "prompt_name", "truncate", "truncation_direction"),
        _embedding,
        root_parameters=True,
        doc="Embeddings of a text (1-D) or of a list of texts (2-D), as a float32 numpy array.",
    ),
    "sentence_similarity": Task(
        "sentence-similarity",
        ("sentence", "other_sentences"),
        (),
        lambda answer: [float(x) for x in answer],
        inputs=lambda sentence, other_sentences: {"source_sentence": sentence, "sentences": other_sentences},
        doc="The cosine similarity of ``sentence`` to each of ``other_sentences``.",
    ),
    "text_classification": Task(
        "text-classification",
        ("text",),
        ("function_to_apply", "top_k"),
        _labels(r.TextClassificationOutputElement),
        doc="Labels of a text with their scores, best first.",
    ),
    "zero_shot_classification": Task(
        "zero-shot-classification",
        ("text", "candidate_labels"),
        ("multi_label", "hypothesis_template"),
        _labels(r.ZeroShotClassificationOutputElement),
        in_parameters=("candidate_labels",),
        doc="Scores of labels the model was not trained on, best first.",
    ),
    "token_classification": Task(
        "token-classification",
        ("text",),
        ("aggregation_strategy", "ignore_labels", "stride"),
        _many(r.TokenClassificationOutputElement),
        doc="Entities in a text (named entities, or what the model tags).",
    ),
    "fill_mask": Task(
        "fill-mask",
        ("text",),
        ("targets", "top_k"),
        _many(r.FillMaskOutputElement),
        doc="Candidates for the mask token, best first.",
    ),
    "question_answering": Task(
        "question-answering",
        ("question", "context"),
        (
            "align_to_words",
            "doc_stride",
            "handle_impossible_answer",
            "max_answer_len",
            "max_question_len",
            "max_seq_len",
            "top_k",
        ),
        _answers,
        inputs=lambda question, context: {"question": question, "context": context},
        doc="The answer's span in ``context`` (a list of them with ``top_k`` > 1).",
    ),
    "summarization": Task(
        "summarization",
        ("text",),
        ("clean_up_tokenization_spaces", "generate_parameters", "truncation"),
        _first(r.SummarizationOutput),
        idempotent=False,
        doc="A summary of the text.",
    ),
    "translation": Task(
        "translation",
        ("text",),
        ("src_lang", "tgt_lang", "clean_up_tokenization_spaces", "truncation", "generate_parameters"),
        _first(r.TranslationOutput),
        idempotent=False,
        doc="The text in another language.",
    ),
    "text_to_image": Task(
        "text-to-image",
        ("prompt",),
        (
            "negative_prompt",
            "height",
            "width",
            "num_inference_steps",
            "guidance_scale",
            "scheduler",
            "seed",
            "format",
        ),
        _image,
        idempotent=False,
        binary_answer=True,
        doc="An image drawn from the prompt, as a PIL image (needs Pillow).",
    ),
    "text_to_speech": Task(
        "text-to-speech",
        ("text",),
        ("voice", "speed", "format"),
        bytes,
        idempotent=False,
        binary_answer=True,
        doc="The text spoken: audio bytes (WAV unless ``format`` says otherwise).",
    ),
    "automatic_speech_recognition": Task(
        "automatic-speech-recognition",
        ("audio",),
        ("return_timestamps", "generation_parameters", "language", "prompt"),
        _first(r.AutomaticSpeechRecognitionOutput),
        kind="file",
        idempotent=False,
        doc="The transcript of an audio file (bytes, a path or a file object).",
    ),
    "audio_classification": Task(
        "audio-classification",
        ("audio",),
        ("function_to_apply", "top_k"),
        _labels(r.AudioClassificationOutputElement),
        kind="file",
        doc="Labels of an audio clip with their scores, best first.",
    ),
    "image_classification": Task(
        "image-classification",
        ("image",),
        ("function_to_apply", "top_k"),
        _labels(r.ImageClassificationOutputElement),
        kind="file",
        doc="Labels of an image with their scores, best first.",
    ),
    "object_detection": Task(
        "object-detection",
        ("image",),
        ("threshold",),
        _many(r.ObjectDetectionOutputElement),
        kind="file",
        doc="The objects in an image, with their boxes.",
    ),
    "image_to_text": Task(
        "image-to-text",
        ("image",),
        (),
        _first(r.ImageToTextOutput),
        kind="file",
        idempotent=False,
        doc="A caption of the image.",
    ),
}


# ---- generation ----------------------------------------------------------------------------------------

TEXT_GENERATION_PARAMETERS = (
    "adapter_id",
    "best_of",
    "decoder_input_details",
    "do_sample",
    "frequency_penalty",
    "grammar",
    "max_new_tokens",
    "repetition_penalty",
    "return_full_text",
    "seed",
    "stop",
    "temperature",
    "top_k",
    "top_n_tokens",
    "top_p",
    "truncate",
    "typical_p",
    "watermark",
)


def text_generation_call(
    model: str | None, prompt: str, *, details: bool, stream: bool, parameters: Mapping[str, Any]
) -> Call:
    """``POST /models/{id}`` with TGI's parameters, as huggingface_hub's ``text_generation`` posts it."""
    chosen = {k: v for k, v in parameters.items() if v is not None}
    if "stop_sequences" in chosen:  # huggingface_hub's older name
        chosen["stop"] = chosen.pop("stop_sequences")
    chosen["details"] = details
    path = f"/models/{model_path(model)}" if model else "/"
    return Call(
        "POST", path, json={"inputs": prompt, "parameters": chosen, "stream": stream}, idempotent=False
    )


def text_generation_answer(answer: Any, *, details: bool) -> Any:
    """The generated text, or with ``details`` the whole ``TextGenerationOutput``."""
    first = answer[0] if isinstance(answer, list) else answer
    return r.read(r.TextGenerationOutput, first) if details else str(first["generated_text"])


def text_generation_event(event: Any, *, details: bool) -> Any:
    """One stream event: the token's text, or with ``details`` the whole ``TextGenerationStreamOutput``."""
    out = r.read(r.TextGenerationStreamOutput, event)
    return out if details else out.token.text


def chat_call(model: str | None, messages: list[Any], *, stream: bool, options: Mapping[str, Any]) -> Call:
    """``POST /v1/chat/completions``; the server's default model is ``tgi``, as TGI names it."""
    chosen = {k: v for k, v in options.items() if v is not None and k != "extra_body"}
    chosen.update(options.get("extra_body") or {})
    body = {"model": model or "tgi", "messages": messages, **chosen, "stream": stream}
    return Call("POST", "/v1/chat/completions", json=body, idempotent=False)


def chat_answer(answer: Any) -> r.ChatCompletionOutput:
    """A whole chat completion."""
    return r.read(r.ChatCompletionOutput, answer)


def chat_event(event: Any) -> r.ChatCompletionStreamOutput:
    """One chunk of a streamed chat."""
    return r.read(r.ChatCompletionStreamOutput, event)


# ---- rerank and the server -----------------------------------------------------------------------------


def rerank_call(
    model: str | None, query: str, texts: list[str], *, return_text: bool, raw_scores: bool, truncate: bool
) -> Call:
    """TEI's ``/rerank`` of the model: its texts ranked by relevance to the query, best first."""
    path = f"/models/{model_path(model)}/rerank" if model else "/rerank"
    body = {
        "query": query,
        "texts": texts,
        "return_text": return_text,
        "raw_scores": raw_scores,
        "truncate": truncate,
    }
    return Call("POST", path, json=body)


def rerank_answer(answer: Any, top_n: int | None) -> list[r.RerankResult]:
    """The ranking, cut to ``top_n``."""
    ranked = [r.read(r.RerankResult, row) for row in answer]
    return ranked[:top_n] if top_n is not None else ranked


def model_status_call(model: str) -> Call:
    """The old Inference API's ``GET /status/{model}``."""
    return Call("GET", f"/status/{model_path(model)}")


def list_models_call(
    search: str | None, author: str | None, pipeline_tag: str | None, limit: int | None
) -> Call:
    """The Hub's ``GET /api/models``, over the server's hub."""
    params = {"search": search, "author": author, "pipeline_tag": pipeline_tag, "limit": limit}
    return Call("GET", "/api/models", params={k: v for k, v in params.items() if v is not None})


def load_call(model: str, *, pin: bool, wait: bool) -> Call:
    """Start a model ahead of traffic (an administrator's call)."""
    params = {"pin": str(pin).lower(), "wait": str(wait).lower()}
    return Call("POST", f"/api/models/{model_path(model)}/load", params=params, idempotent=False)


def unload_call(model: str) -> Call:
    """Stop a model (an administrator's call); sending it twice stops it once."""
    return Call("POST", f"/api/models/{model_path(model)}/unload")


def ps_call() -> Call:
    """What the server has loaded."""
    return Call("GET", "/api/ps")
