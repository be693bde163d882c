"""Work out a folder's model format, tasks and licence from the files it holds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hubserve.errors import ImportFailed
from hubserve.types.manifest import ModelFormat
from hubserve.types.task_names import TASK_ALIASES

WEIGHT_SUFFIXES: dict[str, ModelFormat] = {
    ".safetensors": "transformers",
    ".bin": "transformers",
    ".onnx": "onnx",
    ".gguf": "gguf",
}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")

# Architecture class suffix → tasks that head serves, in preference order.
ARCHITECTURE_TASKS: dict[str, list[str]] = {
    "VitsModel": ["text-to-speech"],
    "VisionEncoderDecoderModel": ["image-to-text"],
    "ForImageClassification": ["image-classification"],
    "ForObjectDetection": ["object-detection"],
    "ForAudioClassification": ["audio-classification"],
    "WhisperForConditionalGeneration": ["automatic-speech-recognition"],
    "ForSpeechSeq2Seq": ["automatic-speech-recognition"],
    "ForCTC": ["automatic-speech-recognition"],
    "ForConditionalGeneration": ["summarization", "translation", "text2text-generation"],
    "MTModel": ["translation", "text2text-generation"],
    "ForSequenceClassification": ["text-classification"],
    "ForTokenClassification": ["token-classification"],
    "ForMaskedLM": ["fill-mask"],
    "ForQuestionAnswering": ["question-answering"],
    "ForCausalLM": ["text-generation"],
    "LMHeadModel": ["text-generation"],
    "Model": ["feature-extraction", "sentence-similarity"],
}
AUDIO_MODEL_TYPES = frozenset({"wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat"})
EMBEDDING_TASKS = ["feature-extraction", "sentence-similarity", "zero-shot-classification"]
# A cross-encoder: one relevance logit per (query, document) pair; its head still classifies.
RERANK_TASKS = ["text-ranking", "text-classification"]

# Phrases in a LICENSE file → SPDX-style id as the Hub writes it.
LICENSE_PHRASES: dict[str, str] = {
    "creative commons attribution 4.0": "cc-by-4.0",
    "apache license": "apache-2.0",
    "mit license": "mit",
}


def detect_format(folder: Path) -> ModelFormat:
    """The model format of a folder, from the weight files in it."""
    if (folder / "model_index.json").is_file():
        return "diffusers"
    if is_ctranslate2(folder):
        return "ctranslate2"
    if piper_voices(folder):
        return "piper"
    found = {WEIGHT_SUFFIXES[p.suffix] for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES}
    if "transformers" in found:
        return "transformers"
    if "onnx" in found:
        return "onnx"
    if "gguf" in found:
        return "gguf"
    raise ImportFailed(
        f"No model weights in {folder}: expected *.safetensors, pytorch_model.bin, *.onnx or *.gguf"
    )


def is_ctranslate2(folder: Path) -> bool:
    """A CTranslate2 model: ``model.bin`` beside a ``vocabulary`` file (faster-whisper's folders)."""
    vocabulary = any((folder / f"vocabulary.{ext}").is_file() for ext in ("txt", "json"))
    return (folder / "model.bin").is_file() and vocabulary


def piper_voices(folder: Path) -> list[Path]:
    """Piper voices: ``*.onnx`` files, each with its ``*.onnx.json`` phoneme config beside it."""
    return [
        config
        for config in sorted(folder.rglob("*.onnx.json"))
        if config.with_name(config.name.removesuffix(".json")).is_file()
        and "phoneme_id_map" in read_json(config)
    ]


LIBRARIES: dict[ModelFormat, str] = {
    "ctranslate2": "ctranslate2",
    "piper": "piper",
    "gguf": "llama.cpp",
    "diffusers": "diffusers",
}


# Models that read no text, or keep their tokenizer elsewhere (a GGUF inside, diffusers in a subfolder).
UNTOKENIZED_FORMATS = frozenset({"gguf", "piper", "diffusers"})
UNTOKENIZED_TASKS = frozenset({"image-classification", "object-detection", "audio-classification"})


def needs_tokenizer(fmt: ModelFormat, tasks: list[str]) -> bool:
    """Whether a model of this format and tasks must bring a tokenizer."""
    return fmt not in UNTOKENIZED_FORMATS and tasks[0] not in UNTOKENIZED_TASKS


def check_tokenizer(folder: Path) -> None:
    """Fail clearly when a folder has no tokenizer files."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ImportFailed(f"No tokenizer in {folder}: expected one of {', '.join(TOKENIZER_FILES)}")


def detect_tasks(folder: Path, explicit: str | None, supported: set[str]) -> list[str]:
    """Tasks a model serves: the explicit one first, then pipeline_tag, then what its head implies."""
    config = read_json(folder / "config.json")
    if any(folder.glob("*.gguf")):
        inferred = ["text-generation"]
    elif is_ctranslate2(folder):
        inferred = ["automatic-speech-recognition"] if "suppress_ids" in config else []
    elif piper_voices(folder):
        inferred = ["text-to-speech"]
    elif (folder / "model_index.json").is_file():
        inferred = _diffusers_tasks(read_json(folder / "model_index.json"))
    else:
        inferred = _tasks_from_config(folder, config)
    tag = config.get("pipeline_tag") or _readme_field(folder, "pipeline_tag")
    if tag == "text-classification" and inferred[:1] == ["text-ranking"]:
        tag = "text-ranking"  # rerankers tagged before the Hub had text-ranking (BAAI/bge-reranker-base)
    first = explicit or tag or (inferred[0] if inferred else None)
    first = TASK_ALIASES.get(first or "", first)
    if first is None:
        raise ImportFailed(
            f"Cannot tell the task of {folder}: add pipeline_tag to config.json or pass --task "
            f"(one of {', '.join(sorted(supported))})"
        )
    if first not in supported:
        raise ImportFailed(f"Task {first!r} is not supported; valid tasks: {', '.join(sorted(supported))}")
    tasks = [first] + [t for t in inferred if t != first and t in supported]
    return tasks


def detect_license(folder: Path, fallback: str | None = None) -> str | None:
    """The licence: README front matter, else a LICENSE file's wording, else the fallback."""
    declared = _readme_field(folder, "license")
    if declared:
        return declared
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        path = folder / name
        if path.is_file():
            text = path.read_text(errors="replace")[:4000].lower()
            for phrase, spdx in LICENSE_PHRASES.items():
                if phrase in text:
                    return spdx
    return fallback


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or {} when the file is missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ImportFailed(f"{path} must hold a JSON object")
    return data


def is_cross_encoder(folder: Path, config: dict[str, Any]) -> bool:
    """A sentence-transformers CrossEncoder, or a sequence-classification head with one label."""
    saved = read_json(folder / "config_sentence_transformers.json")
    if saved.get("model_type") == "CrossEncoder":  # sentence-transformers >= 5
        return True
    if "sbert_ce_default_activation_function" in config or "activation_fn" in (
        config.get("sentence_transformers") or {}
    ):
        return True  # CrossEncoder configs of sentence-transformers < 4 and 4.x
    heads = [str(a) for a in config.get("architectures") or []]
    labels = config.get("id2label") or {}
    return any(a.endswith("ForSequenceClassification") for a in heads) and len(labels) == 1


def _tasks_from_config(folder: Path, config: dict[str, Any]) -> list[str]:
    if is_cross_encoder(folder, config):
        return list(RERANK_TASKS)
    if (folder / "modules.json").is_file():
        return list(EMBEDDING_TASKS)
    tasks: list[str] = []
    for arch in config.get("architectures") or []:
        for suffix, arch_tasks in ARCHITECTURE_TASKS.items():
            if str(arch).endswith(suffix):
                tasks.extend(arch_tasks)
                break
    if config.get("model_type") in AUDIO_MODEL_TYPES and "text-classification" in tasks:
        tasks = ["audio-classification"]  # a speech encoder's sequence head classifies clips, not text
    labels = " ".join(str(v).lower() for v in (config.get("id2label") or {}).values())
    if "text-classification" in tasks and "entail" in labels:
        tasks.append("zero-shot-classification")
    return tasks


def _diffusers_tasks(index: dict[str, Any]) -> list[str]:
    """A diffusers pipeline's task from its class: text-to-image unless it edits or fills images."""
    name = str(index.get("_class_name", ""))
    if not name.endswith("Pipeline") or any(
        word in name for word in ("Img2Img", "Inpaint", "Video", "Audio")
    ):
        return []
    return ["text-to-image"]


def _readme_field(folder: Path, key: str) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---", text, re.DOTALL)
    if not match:
        return None
    field = re.search(rf"^{re.escape(key)}:\s*(\S+)\s*$", match.group(1), re.MULTILINE)
    return field.group(1).strip("'\"") if field else None
