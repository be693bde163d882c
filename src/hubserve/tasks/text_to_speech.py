"""text-to-speech: text in, an audio file out (wav by default; flac, mp3, opus, aac or raw pcm on request).

A single-voice model answers to any of OpenAI's voice names with its own voice; a model with several
speakers takes their names, and an unknown one is a 400 that lists them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

from pydantic import Field

from hubserve.errors import InputTooLong, UnknownOption, ValidationFailed
from hubserve.runtimes.pipelines.base import SpeechSynthesizer
from hubserve.tasks.audio_codec import AUDIO_FORMATS, StreamEncoder, audio_format, encode
from hubserve.tasks.base import CallContext, Envelope, Prepared, StrictParams
from hubserve.tasks.pipeline import Loaded, PipelineTask

# OpenAI's voices: what its clients send; a one-voice model answers to each of them.
OPENAI_VOICES = frozenset(
    "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar".split()
)


class TtsParams(StrictParams):
    """``voice``, ``speed`` (0.25–4.0, OpenAI's range) and the output ``format``."""

    voice: str | None = Field(default=None, max_length=128)
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    format: str = "wav"


class TextToSpeech(PipelineTask[TtsParams]):
    """Speak one text."""

    name = "text-to-speech"
    params_model = TtsParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """One non-empty text of at most ``ctx.max_speech_characters`` characters."""
        if not isinstance(inputs, str) or not inputs.strip():
            raise ValidationFailed("`inputs` must be a non-empty string: the text to speak", param="inputs")
        if len(inputs) > ctx.max_speech_characters:
            raise InputTooLong(
                f"The text has {len(inputs)} characters; at most {ctx.max_speech_characters} per request "
                "(HUBSERVE_MAX_SPEECH_CHARACTERS)"
            )
        return inputs, True

    def prepare(self, envelope: Envelope, ctx: CallContext) -> Prepared[TtsParams]:
        """Also check the format before anything is queued."""
        prepared = super().prepare(envelope, ctx)
        audio_format(prepared.params.format)
        return prepared

    def compute(self, loaded: Loaded, request: Prepared[TtsParams]) -> dict[str, Any]:
        """The audio file in base64, with its content type, sample rate and length."""
        synthesizer: SpeechSynthesizer = loaded.model
        params = request.params
        voice = pick_voice(synthesizer.voices, params.voice)
        samples = synthesizer.synthesize(request.inputs, voice=voice, speed=params.speed)
        rate = synthesizer.sample_rate
        return {
            "audio": base64.b64encode(encode(samples, rate, params.format)).decode(),
            "content_type": AUDIO_FORMATS[params.format].content_type,
            "sample_rate": rate,
            "seconds": round(len(samples) / rate, 3),
            "voice": voice,
        }

    def stream(self, loaded: Loaded, request: Prepared[TtsParams]) -> Generator[dict[str, Any], None, None]:
        """The audio file a piece at a time (base64 bytes), then a last item with its length."""
        synthesizer: SpeechSynthesizer = loaded.model
        params = request.params
        voice = pick_voice(synthesizer.voices, params.voice)
        rate = synthesizer.sample_rate
        encoder = StreamEncoder(rate, params.format)
        total = 0
        yield {"content_type": AUDIO_FORMATS[params.format].content_type, "voice": voice}
        for samples in synthesizer.stream(request.inputs, voice=voice, speed=params.speed):
            total += len(samples)
            data = encoder.feed(samples)
            if data:
                yield {"audio": base64.b64encode(data).decode()}
        tail = encoder.finish()
        if tail:
            yield {"audio": base64.b64encode(tail).decode()}
        yield {"done": True, "seconds": round(total / rate, 3)}


def voice_names(files_dir: Path) -> list[str]:
    """A Piper voice folder's speakers (its config's ``speaker_id_map``), or the voice's own name."""
    for config in sorted(files_dir.rglob("*.onnx.json")):
        speakers = json.loads(config.read_text()).get("speaker_id_map") or {}
        return [str(name) for name in speakers] or [config.name.removesuffix(".onnx.json")]
    return []


def pick_voice(voices: tuple[str, ...], asked: str | None) -> str:
    """The speaker to use: the one asked for, or the model's only (or first) voice for None or OpenAI's."""
    if asked is None or asked in voices:
        return asked or voices[0]
    if len(voices) == 1 and asked.lower() in OPENAI_VOICES:
        return voices[0]
    raise UnknownOption(f"Unknown voice {asked!r}; this model's voices: {', '.join(voices)}", param="voice")
