"""HF answers of the pipeline tasks: a transcript's text and chunks, speech as audio bytes, texts as JSON.

Usage is metered in each task's own unit: milliseconds of audio heard (``audio_ms``) for speech
recognition, characters read (``chars``) for text-to-speech, characters in and out for the text-to-text
tasks, one image made (``images``) for text-to-image.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi.responses import Response
from starlette.requests import Request

from hubserve.gateway.metering import Meter
from hubserve.tasks.audio_codec import CONTENT_TYPES
from hubserve.tasks.automatic_speech_recognition import AutomaticSpeechRecognition, hf_answer
from hubserve.tasks.base import Envelope, Prepared
from hubserve.tasks.registry import BINARY_INPUT_TASKS
from hubserve.tasks.text_to_image import ACCEPTED, TextToImage
from hubserve.tasks.text_to_speech import TextToSpeech


def with_accepted_format(request: Request, task: str, envelope: Envelope) -> Envelope:
    """Speech and images answer in the type ``Accept`` names, unless ``parameters.format`` says one."""
    types = {TextToSpeech.name: CONTENT_TYPES, TextToImage.name: ACCEPTED}.get(task)
    if types is None or "format" in (envelope.parameters or {}):
        return envelope
    for part in request.headers.get("accept", "").split(","):
        name = types.get(part.split(";")[0].strip().lower())
        if name is not None:
            parameters = {**(envelope.parameters or {}), "format": name}
            return envelope.model_copy(update={"parameters": parameters})
    return envelope


def pipeline_response(
    task: str, prepared: Prepared[Any], result: Any, meter: Meter, headers: dict[str, str]
) -> Response:
    """The HF answer of a pipeline task, metered."""
    if task == AutomaticSpeechRecognition.name:
        meter.count(round(float(result["duration"]) * 1000), 0, "audio_ms")
        headers["x-audio-seconds"] = f"{float(result['duration']):.3f}"
        body = orjson.dumps(hf_answer(result, prepared.params.return_timestamps))
        return Response(body, 200, headers, "application/json")
    if task == TextToImage.name:
        meter.count(0, 1, "images")
        size = f"{result['width']}x{result['height']}"
        headers.update(
            {"x-seed": str(result["seed"]), "x-image-size": size, "x-scheduler": result["scheduler"]}
        )
        return Response(base64.b64decode(result["image"]), 200, headers, result["content_type"])
    if task == TextToSpeech.name:
        meter.count(len(prepared.inputs), 0, "chars")
        headers["x-audio-seconds"] = f"{float(result['seconds']):.3f}"
        return Response(base64.b64decode(result["audio"]), 200, headers, result["content_type"])
    if task in BINARY_INPUT_TASKS:  # a file classified: one item in, one label (or box) out each
        meter.count(1, len(result), "items")
        return Response(orjson.dumps(result), 200, headers, "application/json")
    read = sum(len(text) for text in prepared.inputs)
    written = sum(len(text) for row in result for text in row.values())
    meter.count(read, written, "chars")
    return Response(orjson.dumps(result), 200, headers, "application/json")
