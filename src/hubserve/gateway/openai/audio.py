"""OpenAI's audio routes: ``POST /v1/audio/transcriptions`` (multipart) and ``POST /v1/audio/speech``.

Shapes from openai 3.57: ``resources/audio/transcriptions.py`` posts multipart ``file``, ``model``,
``language``, ``prompt``, ``response_format``, ``temperature`` and ``timestamp_granularities[]``;
``types/audio/transcription_verbose.py`` reads ``task``-less ``{language, duration, text, segments, words,
usage}``. ``resources/audio/speech.py`` posts JSON ``{model, input, voice (a name or {"id"}), instructions,
response_format (mp3 by default), speed, stream_format}`` and reads the body as the audio file.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from hubserve.accounts.principal import Principal
from hubserve.errors import BadRequest, ValidationFailed
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.encoding import call_context, run_encoder
from hubserve.gateway.generation import bound_model, serve_leased
from hubserve.gateway.json_body import read_object
from hubserve.gateway.metering import meter_of
from hubserve.gateway.openai.transcripts import srt, vtt
from hubserve.gateway.sse import event, sse_response
from hubserve.gateway.state import Services
from hubserve.scheduler.scheduler import Lease
from hubserve.tasks.automatic_speech_recognition import AutomaticSpeechRecognition
from hubserve.tasks.base import Envelope, parse_model
from hubserve.tasks.registry import TASKS
from hubserve.tasks.text_to_speech import TextToSpeech

TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TRANSCRIPTION_FIELDS = {
    "file",
    "model",
    "language",
    "prompt",
    "response_format",
    "temperature",
    "timestamp_granularities[]",
    "stream",
}
MAX_FORM_FIELDS = 32
TRANSCRIPTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "model"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string"},
                        "language": {"type": "string"},
                        "prompt": {"type": "string"},
                        "response_format": {"type": "string", "enum": list(TRANSCRIPTION_FORMATS)},
                        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                        "timestamp_granularities[]": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["word", "segment"]},
                        },
                        "stream": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


class SpeechRequest(BaseModel):
    """OpenAI's speech body."""

    model_config = ConfigDict(extra="forbid")
    model: str
    input: str = Field(min_length=1)
    voice: str | dict[str, str]
    instructions: str | None = None
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"


async def transcriptions(request: Request, services: Services, principal: Principal) -> Response:
    """Transcribe the uploaded file: json, text, srt, vtt or verbose_json."""
    form = await _form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed("`file` is required: the audio file, as a multipart upload", param="file")
    model = _field(form, "model", required=True)
    response_format = _field(form, "response_format") or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise ValidationFailed(
            f"response_format must be one of {', '.join(TRANSCRIPTION_FORMATS)}", param="response_format"
        )
    if (_field(form, "stream") or "false").lower() == "true":
        raise BadRequest("Streamed transcription is not supported; send stream=false", param="stream")
    granularities = [str(g) for g in form.getlist("timestamp_granularities[]")]
    unknown = set(granularities) - {"word", "segment"}
    if unknown:
        raise ValidationFailed(
            "timestamp_granularities[] takes word and segment", param="timestamp_granularities"
        )
    params: dict[str, Any] = {
        "language": _field(form, "language"),
        "prompt": _field(form, "prompt"),
        "return_timestamps": "word" if "word" in granularities else True,
    }
    temperature = _field(form, "temperature")
    if temperature is not None:
        params["generation_parameters"] = {"temperature": _number(temperature, "temperature")}
    data = await upload.read()
    meter = meter_of(request)
    name = bound_model(request, services, model, None)
    task = TASKS[AutomaticSpeechRecognition.name]
    admission = await services.access.admit(meter, principal, name, task=task.name, route="openai")
    admission.require(task.name, param="model")
    envelope = Envelope(inputs=base64.b64encode(data).decode(), parameters=params)
    prepared = task.prepare(envelope, call_context(request, services))
    options = serve_options(request, services.settings)
    result = await run_encoder(services, admission, meter, task.to_call(prepared), options)
    meter.count(round(float(result["duration"]) * 1000), 0, "audio_ms")
    return _transcript_response(result, response_format, granularities)


def _transcript_response(result: dict[str, Any], response_format: str, granularities: list[str]) -> Response:
    if response_format == "text":
        return Response(result["text"] + "\n", media_type="text/plain; charset=utf-8")
    if response_format == "srt":
        return Response(srt(result["segments"]), media_type="text/plain; charset=utf-8")
    if response_format == "vtt":
        return Response(vtt(result["segments"]), media_type="text/vtt; charset=utf-8")
    usage = {"type": "duration", "seconds": result["duration"]}
    if response_format == "json":
        return Response(orjson.dumps({"text": result["text"], "usage": usage}), media_type="application/json")
    verbose: dict[str, Any] = {
        "task": "transcribe",
        "language": result["language"],
        "duration": result["duration"],
        "text": result["text"],
        "usage": usage,
    }
    if not granularities or "segment" in granularities:
        verbose["segments"] = [
            {
                "id": i,
                "seek": 0,
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "tokens": list(s["tokens"]),
                "temperature": s["temperature"] or 0.0,
                "avg_logprob": s["avg_logprob"] or 0.0,
                "compression_ratio": s["compression_ratio"] or 0.0,
                "no_speech_prob": s["no_speech_prob"] or 0.0,
            }
            for i, s in enumerate(result["segments"])
        ]
    if "word" in granularities:
        verbose["words"] = result["words"] or []
    return Response(orjson.dumps(verbose), media_type="application/json")


async def speech(request: Request, services: Services, principal: Principal) -> Response:
    """Speak ``input``; the body is the audio file."""
    body = parse_model(SpeechRequest, await read_object(request), where="")
    assert isinstance(body, SpeechRequest)
    if body.instructions:
        raise BadRequest(
            "This server's voices take no instructions; leave instructions out", param="instructions"
        )
    voice = body.voice if isinstance(body.voice, str) else body.voice.get("id")
    if not voice:
        raise ValidationFailed('voice must be a name or {"id": name}', param="voice")
    meter = meter_of(request)
    name = bound_model(request, services, body.model, None)
    task = TASKS[TextToSpeech.name]
    admission = await services.access.admit(meter, principal, name, task=task.name, route="openai")
    admission.require(task.name, param="model")
    params = {"voice": voice, "speed": body.speed, "format": body.response_format}
    prepared = task.prepare(Envelope(inputs=body.input, parameters=params), call_context(request, services))
    call = task.to_call(prepared)
    meter.count(len(body.input), 0, "chars")

    async def handler(lease: Lease) -> Response:
        pieces = await lease.stream(call)
        first = await anext(pieces)  # the content type and voice: an unknown voice fails before any byte
        headers = {"x-voice": str(first["voice"])}
        if body.stream_format == "sse":
            return sse_response(_speech_events(pieces, len(body.input)), headers)
        return StreamingResponse(_audio_bytes(pieces), media_type=first["content_type"], headers=headers)

    return await serve_leased(services, admission, serve_options(request, services.settings), handler)


async def _audio_bytes(pieces: AsyncGenerator[dict[str, Any], None]) -> AsyncIterator[bytes]:
    """The audio file as the runner speaks it, sentence by sentence."""
    try:
        async for piece in pieces:
            if "audio" in piece:
                yield base64.b64decode(piece["audio"])
    finally:
        await pieces.aclose()


async def _speech_events(pieces: AsyncGenerator[dict[str, Any], None], characters: int) -> AsyncIterator[str]:
    """OpenAI's speech events: ``speech.audio.delta`` with base64 audio, then ``speech.audio.done``."""
    try:
        async for piece in pieces:
            if "audio" in piece:
                yield event({"type": "speech.audio.delta", "audio": piece["audio"]})
            elif piece.get("done"):
                usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
                yield event({"type": "speech.audio.done", "usage": usage})
    finally:
        await pieces.aclose()


async def _form(request: Request) -> Any:
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise ValidationFailed("The body must be multipart/form-data with the audio in `file`", param="file")
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except HTTPException as exc:  # starlette's answer to a multipart body it cannot parse
        raise ValidationFailed(f"The multipart body could not be read: {exc.detail}") from None
    unknown = sorted(set(form.keys()) - TRANSCRIPTION_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown form field(s): {', '.join(unknown)}", param=unknown[0])
    return form


def _field(form: Any, name: str, *, required: bool = False) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"`{name}` is required", param=name)
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"`{name}` must be text, not a file", param=name)
    return value


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(f"`{name}` must be a number", param=name) from None
