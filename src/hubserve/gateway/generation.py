"""What the TGI, HF and OpenAI generation routes share: model binding, leases, primed streams.

The runner lease is held until the whole response, streamed or not, has been sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.responses import StreamingResponse

from hubserve.errors import ModelNotFound, TaskNotSupported
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import ServeOptions
from hubserve.gateway.metering import Meter, meter_of
from hubserve.gateway.state import Services
from hubserve.runtimes.generation.base import SamplingParams, TokenEvent
from hubserve.scheduler.runner import Runner
from hubserve.tasks.registry import GENERATION_TASKS

# Model names that mean "the model this URL is bound to" (huggingface_hub sends "dummy", TGI clients "tgi").
BOUND_MODEL_ALIASES = frozenset({"", "dummy", "tgi"})


def bound_model(services: Services, requested: str | None, url_model: str | None) -> str:
    """The model a generation request names: the URL's, else the body's, else the server default."""
    if url_model is not None and (requested is None or requested in BOUND_MODEL_ALIASES):
        return url_model
    if requested and requested not in BOUND_MODEL_ALIASES:
        return requested
    if services.settings.default_model:
        return services.settings.default_model
    raise ModelNotFound(
        f"Model {requested!r} names no model and no default model is set; pass a model id like 'org/name'"
    )


class Generator:
    """A generation model as the dialect services see it, backed by its runner."""

    def __init__(self, model: str, runner: Runner, meter: Meter) -> None:
        assert runner.generation is not None
        self.model = model  # the name the client asked for (an alias stays an alias)
        self._runner = runner
        self._meter = meter
        self.template = runner.generation.template
        self.special_tokens = runner.generation.special_tokens
        self.context_length = runner.generation.context_length

    async def tokenize(self, text: str, *, add_special: bool) -> tuple[list[int], list[str]]:
        """Token ids and their texts."""
        return await self._runner.tokenize(text, add_special=add_special)

    def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Token events of one generation, each counted on the request's meter as it passes."""
        self._meter.count(len(prompt), 0, "tokens")
        return _counted(self._runner.stream(prompt, params), self._meter)


async def _counted(
    events: AsyncGenerator[TokenEvent, None], meter: Meter
) -> AsyncGenerator[TokenEvent, None]:
    # Counted per token rather than from the last event, so a stream the client drops is still billed.
    try:
        async for event in events:
            meter.output_count += 1
            yield event
    finally:
        await events.aclose()


async def serve_generation(
    request: Request,
    services: Services,
    admission: Admission,
    options: ServeOptions,
    handler: Callable[[Generator], Awaitable[Response]],
) -> Response:
    """Lease the model's runner and hold the lease until the response, streamed or not, is complete.

    ``admission`` is what ``AccessControl.admit`` answered: the call is admitted and the model exists for
    the caller.
    """
    manifest, model_id = admission.manifest, admission.model_id
    if manifest.pipeline_tag not in GENERATION_TASKS:
        raise TaskNotSupported(
            f"Model {model_id} does not serve text-generation; it serves: {', '.join(manifest.tasks)}"
        )
    stack = AsyncExitStack()
    runner = await stack.enter_async_context(
        services.scheduler.lease(model_id, hold_s=options.hold_s, keep_alive_s=options.keep_alive_s)
    )
    try:
        response = await handler(Generator(admission.name, runner, meter_of(request)))
    except BaseException:
        await stack.aclose()
        raise
    if isinstance(response, StreamingResponse):
        response.body_iterator = _closing(response.body_iterator, stack)
    else:
        await stack.aclose()
    return response


async def _closing(body: AsyncIterable[Any], stack: AsyncExitStack) -> AsyncIterator[Any]:
    try:
        async for chunk in body:
            yield chunk
    finally:
        await stack.aclose()


@dataclass
class Collected:
    """A whole generation, gathered from its events."""

    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)

    @property
    def last(self) -> TokenEvent:
        """The final event (it carries the finish reason and counts)."""
        return self.tokens[-1]


async def primed(
    generator: Generator, prompt: list[int], params: SamplingParams
) -> AsyncIterator[TokenEvent]:
    """Start generating and wait for the first token, so queue and validation errors become HTTP errors."""
    stream = generator.stream(prompt, params)
    first = await anext(stream)

    async def chained() -> AsyncIterator[TokenEvent]:
        try:
            yield first
            async for item in stream:
                yield item
        finally:
            await stream.aclose()

    return chained()


async def collect(events: AsyncIterator[TokenEvent]) -> Collected:
    """Gather every event and the released text."""
    out = Collected()
    async for item in events:
        out.tokens.append(item)
        out.text += item.delta
    return out
