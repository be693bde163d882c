"""automatic-speech-recognition: an audio file in (any format FFmpeg reads), its transcript out.

The runner answers with the whole transcript (text, language, duration, segments and words); each dialect
shapes it: HF's ``{"text", "chunks"?}`` (``hf_answer``), OpenAI's json, text, srt, vtt or verbose_json.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, Literal

from pydantic import Field

from hubserve.errors import UnknownOption
from hubserve.runtimes.pipelines.base import SpeechRecognizer, TranscribeOptions
from hubserve.tasks.audio_codec import decode
from hubserve.tasks.base import Prepared, StrictParams
from hubserve.tasks.pipeline import FileTask, Loaded, decode_base64_audio


class AsrGeneration(StrictParams):
    """The generation settings a speech model takes (HF's ``generation_parameters``)."""

    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    num_beams: int | None = Field(default=None, ge=1, le=10)
    max_new_tokens: int | None = Field(default=None, ge=1, le=448)  # Whisper's decoder length
    do_sample: bool | None = None


class AsrParams(StrictParams):
    """HF's ASR parameters, plus ``language`` and ``prompt`` (OpenAI's, also accepted here)."""

    return_timestamps: bool | Literal["word"] = False
    generation_parameters: AsrGeneration | None = None
    language: str | None = Field(default=None, min_length=2, max_length=16)
    prompt: str | None = Field(default=None, max_length=2000)


class AutomaticSpeechRecognition(FileTask[AsrParams]):
    """Transcribe one audio file."""

    name = "automatic-speech-recognition"
    params_model = AsrParams
    file_bytes = staticmethod(decode_base64_audio)

    def compute(self, loaded: Loaded, request: Prepared[AsrParams]) -> dict[str, Any]:
        """Decode and resample the file, then transcribe it."""
        recognizer: SpeechRecognizer = loaded.model
        params = request.params
        language = (params.language or "").lower() or None
        if language and not recognizer.multilingual and language != "en":
            raise UnknownOption(
                f"This model transcribes English only; language {language!r} is not one it knows"
            )
        samples = decode(base64.b64decode(request.inputs), recognizer.sampling_rate, loaded.max_audio_s)
        generation = params.generation_parameters or AsrGeneration()
        temperature = generation.temperature
        if generation.do_sample is False:
            temperature = 0.0
        options = TranscribeOptions(
            language=language,
            prompt=params.prompt,
            temperature=temperature,
            num_beams=generation.num_beams,
            max_new_tokens=generation.max_new_tokens,
            word_timestamps=params.return_timestamps == "word",
        )
        return dataclasses.asdict(recognizer.transcribe(samples, options))


def hf_answer(transcript: dict[str, Any], return_timestamps: bool | str) -> dict[str, Any]:
    """HF's shape: ``{"text"}``, with ``chunks`` of ``{"text", "timestamp": [start, end]}`` when asked."""
    answer: dict[str, Any] = {"text": transcript["text"]}
    if return_timestamps == "word" and transcript.get("words") is not None:
        answer["chunks"] = [
            {"text": w["word"], "timestamp": [w["start"], w["end"]]} for w in transcript["words"]
        ]
    elif return_timestamps:
        answer["chunks"] = [
            {"text": s["text"], "timestamp": [s["start"], s["end"]]} for s in transcript["segments"]
        ]
    return answer
