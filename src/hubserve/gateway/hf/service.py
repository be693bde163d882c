"""Run one HF-dialect inference call: parse the body, pick the task, run it, shape the answer."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from hubserve.accounts.principal import Principal
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.disconnect import unless_disconnected
from hubserve.gateway.encoding import call_context, run_encoder
from hubserve.gateway.generation import Generator, serve_generation
from hubserve.gateway.hf.chat_tasks import TEXT_TASKS, serve_by_chat, wanted_text_task
from hubserve.gateway.hf.pipelines import pipeline_response, with_accepted_format
from hubserve.gateway.json_body import read_inputs_body
from hubserve.gateway.metering import Meter, meter_of
from hubserve.gateway.state import Services
from hubserve.gateway.textgen.protocol import GenerateRequest
from hubserve.gateway.textgen.service import generate
from hubserve.tasks.base import Envelope, parse_model
from hubserve.tasks.pipeline import PipelineTask
from hubserve.tasks.registry import BINARY_INPUT_TASKS, GENERATION_TASKS, resolve_task
from hubserve.tasks.text_ranking import TextRanking, ranked
from hubserve.tasks.zero_shot_classification import legacy_shape, wants_list_shape
from hubserve.types.task_names import TASK_ALIASES


async def infer(
    request: Request, services: Services, principal: Principal, model: str, task_name: str | None
) -> Response:
    """Serve ``POST /models/{id}[/pipeline/{task}]`` and its legacy twin."""
    started = time.perf_counter()
    meter = meter_of(request)
    admission = await services.access.admit(meter, principal, model, task=task_name, route="hf")
    manifest = admission.manifest
    wanted = TASK_ALIASES.get(task_name, task_name) if task_name else manifest.pipeline_tag
    data = await read_inputs_body(request, binary=wanted in BINARY_INPUT_TASKS)
    if manifest.pipeline_tag in GENERATION_TASKS:
        asked = TASK_ALIASES.get(task_name or "", task_name) or wanted_text_task(data)
        if asked in TEXT_TASKS:
            return await serve_by_chat(request, services, admission, asked, data)
        if asked in (None, *GENERATION_TASKS):
            return await _generate(request, services, admission, data)
    envelope = parse_model(Envelope, data, where="body")
    assert isinstance(envelope, Envelope)
    task = resolve_task(manifest, task_name, envelope)
    meter.task = task.name
    envelope = with_accepted_format(request, task.name, envelope)
    ctx = call_context(request, services)
    prepared = task.prepare(envelope, ctx)  # validate here, before anything is queued or loaded
    options = serve_options(request, services.settings, envelope.options)
    headers = {
        "x-task": task.name,
        # a file's base64 is no text: its characters are not counted
        "x-compute-characters": str(0 if task.name in BINARY_INPUT_TASKS else _characters(envelope.inputs)),
    }
    running = run_encoder(services, admission, meter, task.to_call(prepared), options, key_body=data)
    result = await (unless_disconnected(request, running) if isinstance(task, PipelineTask) else running)
    if meter.cache_hit:
        headers.update({"x-compute-type": "cache", "x-cache": "HIT"})
    else:
        headers.update({"x-compute-type": "cpu", "x-cache": "MISS"})
    if task.name == TextRanking.name:
        return _ranking_response(envelope.inputs, result, headers, started, meter)
    if isinstance(task, PipelineTask):
        headers["x-compute-time"] = f"{time.perf_counter() - started:.4f}"
        return pipeline_response(task.name, prepared, result, meter, headers)
    items = _input_items(envelope.inputs)
    meter.count(items, items if task.name == "feature-extraction" else _result_items(result), "items")
    if task.name == "zero-shot-classification" and not wants_list_shape(ctx):
        result = legacy_shape(prepared.inputs, result)
    headers["x-compute-time"] = f"{time.perf_counter() - started:.4f}"
    return Response(orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY), 200, headers, "application/json")


def _ranking_response(
    inputs: Any, rows: Any, headers: dict[str, str], started: float, meter: Meter
) -> Response:
    """``{query, texts}`` gets TEI's ranked list; the older ``{source_sentence, sentences}`` a score each."""
    scores = [float(s) for s in rows[:, 0]]
    meter.count(int(rows[:, 1].sum()), len(scores), "tokens")
    result: Any = scores if "source_sentence" in inputs else ranked(scores, None)
    headers["x-compute-time"] = f"{time.perf_counter() - started:.4f}"
    return Response(orjson.dumps(result), 200, headers, "application/json")


async def _generate(
    request: Request, services: Services, admission: Admission, data: dict[str, Any]
) -> Response:
    body = parse_model(GenerateRequest, data, where="body")
    assert isinstance(body, GenerateRequest)
    options = serve_options(request, services.settings, body.options)

    async def handler(generator: Generator) -> Response:
        # TGI's POST / echoes the prompt by default for text-generation models and answers a list.
        return await generate(generator, body, full_text_default=True, as_list=True)

    return await serve_generation(request, services, admission, options, handler)


def _input_items(inputs: Any) -> int:
    """Texts in an encoder call: one string, a list of them, or similarity's source plus sentences."""
    if isinstance(inputs, list):
        return len(inputs)
    if isinstance(inputs, dict) and isinstance(inputs.get("sentences"), list):
        return 1 + len(inputs["sentences"])
    return 1


def _result_items(result: Any) -> int:
    return len(result) if isinstance(result, list) else 1


def _characters(inputs: Any) -> int:
    if isinstance(inputs, str):
        return len(inputs)
    if isinstance(inputs, list):
        return sum(_characters(x) for x in inputs)
    if isinstance(inputs, dict):
        return sum(_characters(x) for x in inputs.values())
    return 0
