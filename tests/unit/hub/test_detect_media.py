"""Format and task detection for speech models: CTranslate2 Whisper folders, Piper voices, seq2seq configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubserve.errors import ImportFailed
from hubserve.hub.detect import detect_format, detect_tasks, needs_tokenizer
from hubserve.tasks.registry import supported_tasks


def write(folder: Path, files: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return folder


def test_a_ctranslate2_whisper_folder_is_speech_recognition(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "w",
        {"model.bin": "x", "vocabulary.txt": "a\nb", "config.json": {"suppress_ids": [1], "lang_ids": []}},
    )
    assert detect_format(folder) == "ctranslate2"
    assert detect_tasks(folder, None, supported_tasks()) == ["automatic-speech-recognition"]


def test_a_ctranslate2_translator_is_not_guessed_as_speech(tmp_path: Path) -> None:
    folder = write(tmp_path / "t", {"model.bin": "x", "vocabulary.json": "[]", "config.json": {}})
    with pytest.raises(ImportFailed, match="--task"):
        detect_tasks(folder, None, supported_tasks())


def test_a_piper_voice_is_text_to_speech(tmp_path: Path) -> None:
    folder = write(tmp_path / "p", {"v.onnx": "x", "v.onnx.json": {"phoneme_id_map": {"_": [0]}}})
    assert detect_format(folder) == "piper"
    assert detect_tasks(folder, None, supported_tasks()) == ["text-to-speech"]


def test_an_onnx_json_that_is_no_voice_config_is_plain_onnx(tmp_path: Path) -> None:
    folder = write(tmp_path / "o", {"m.onnx": "x", "m.onnx.json": {"other": 1}})
    assert detect_format(folder) == "onnx"


@pytest.mark.parametrize(
    ("pipeline", "tasks"),
    [("StableDiffusionPipeline", ["text-to-image"]), ("StableDiffusionImg2ImgPipeline", [])],
)
def test_a_diffusers_folder_is_text_to_image_unless_it_edits_images(
    tmp_path: Path, pipeline: str, tasks: list[str]
) -> None:
    folder = write(tmp_path / pipeline, {"model_index.json": {"_class_name": pipeline}})
    assert detect_format(folder) == "diffusers"
    if tasks:
        assert detect_tasks(folder, None, supported_tasks()) == tasks
    else:
        with pytest.raises(ImportFailed, match="--task"):
            detect_tasks(folder, None, supported_tasks())


@pytest.mark.parametrize(
    ("architecture", "first"),
    [
        ("BartForConditionalGeneration", "summarization"),
        ("MarianMTModel", "translation"),
        ("WhisperForConditionalGeneration", "automatic-speech-recognition"),
        ("ViTForImageClassification", "image-classification"),
        ("VitsModel", "text-to-speech"),
        ("VisionEncoderDecoderModel", "image-to-text"),
        ("YolosForObjectDetection", "object-detection"),
        ("ASTForAudioClassification", "audio-classification"),
    ],
)
def test_seq2seq_and_whisper_heads_have_their_tasks(tmp_path: Path, architecture: str, first: str) -> None:
    folder = write(tmp_path / architecture, {"config.json": {"architectures": [architecture]}})
    assert detect_tasks(folder, None, supported_tasks())[0] == first


def test_a_speech_encoders_sequence_head_classifies_audio_not_text(tmp_path: Path) -> None:
    config = {"architectures": ["Wav2Vec2ForSequenceClassification"], "model_type": "wav2vec2"}
    folder = write(tmp_path / "w2v", {"config.json": config})
    assert detect_tasks(folder, None, supported_tasks()) == ["audio-classification"]


def test_only_models_that_read_text_need_a_tokenizer() -> None:
    assert needs_tokenizer("transformers", ["text-classification"])
    assert not needs_tokenizer("transformers", ["image-classification"])
    assert not needs_tokenizer("diffusers", ["text-to-image"])
    assert not needs_tokenizer("piper", ["text-to-speech"])
