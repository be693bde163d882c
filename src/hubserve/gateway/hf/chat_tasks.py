"""Summarization, translation and text2text on a chat model, as prompts: only when a setting turns it on.

With ``HUBSERVE_CHAT_TEXT_TASKS=true`` a text-generation model asked for one of these tasks gets each text
in a short instruction as a chat turn, and the answer has the task's shape. Such answers carry
``x-served-as: chat-prompt``: the text came from a chat model following an instruction, not from a model
trained for the task. Off (the default), the request is a 400 that says how to turn it on.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from hubserve.errors import TaskNotSupported
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import serve_options
from hubserve.gateway.encoding import call_context
from hubserve.gateway.generation import Generator, collect, serve_generation
from hubserve.gateway.state import Services
from hubserve.tasks.base import Envelope
from hubserve.tasks.registry import TASKS
from hubserve.tasks.text_to_text import RESULT_KEYS, TextToTextParams
from hubserve.types.generation import SamplingParams

TEXT_TASKS = frozenset(RESULT_KEYS)
# Parameters only the text-to-text tasks take: a body with one asks for them, not for a continuation.
TEXT_TASK_PARAMETERS = frozenset({"generate_parameters", "generation_parameters", "src_lang", "tgt_lang"})
INSTRUCTIONS = {
    "summarization": "Summarize the following text in one to three sentences. Answer with the summary only.",
    "translation": "Translate the following text{source} into {target}. Answer with the translation only.",
    "text2text-generation": "",
}


def wanted_text_task(data: dict[str, Any]) -> str | None:
    """The text-to-text task a body sent to a chat model's URL asks for by its parameters, if any."""
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not TEXT_TASK_PARAMETERS & set(parameters):
        return None
    return "translation" if {"src_lang", "tgt_lang"} & set(parameters) else "summarization"


async def serve_by_chat(
    request: Request, services: Services, admission: Admission, task_name: str, data: dict[str, Any]
) -> Response:
    """The task's answer, one chat turn per input text."""
    if not services.settings.chat_text_tasks:
        raise TaskNotSupported(
            f"Model {admission.model_id} is a text-generation model and does not serve {task_name}; set "
            "HUBSERVE_CHAT_TEXT_TASKS=true to let chat models serve it as a prompt"
        )
    task = TASKS[task_name]
    envelope = Envelope.model_validate(data)
    prepared = task.prepare(envelope, call_context(request, services))
    params: TextToTextParams = prepared.params
    generate = params.generate_parameters
    sampling = SamplingParams(
        max_new_tokens=(generate.max_new_tokens or generate.max_length or 256) if generate else 256,
        do_sample=bool(generate and generate.do_sample),
        temperature=(generate.temperature or 1.0) if generate else 1.0,
    )
    instruction = _instruction(task_name, params)
    key = RESULT_KEYS[task_name]

    async def handler(generator: Generator) -> Response:
        answers = []
        for text in prepared.inputs:
            content = f"{instruction}\n\n{text}" if instruction else text
            reply = await collect(await generator.chat([{"role": "user", "content": content}], [], sampling))
            answers.append({key: reply.text.strip()})
        headers = {"x-served-as": "chat-prompt", "x-task": task_name}
        return Response(orjson.dumps(answers), 200, headers, "application/json")

    return await serve_generation(
        request, services, admission, serve_options(request, services.settings), handler
    )


def _instruction(task_name: str, params: TextToTextParams) -> str:
    template = INSTRUCTIONS[task_name]
    source = getattr(params, "src_lang", None)
    target = getattr(params, "tgt_lang", None) or "English"
    return template.format(source=f" from {source}" if source else "", target=target)
