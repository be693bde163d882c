"""What the TGI, HF and OpenAI generation routes share: model binding, leases, started generations.

The runner lease is held until the whole response, streamed or not, has been sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.responses import StreamingResponse

from hubserve.errors import HubserveError, NotFound, ShuttingDown, TaskNotSupported
from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import ServeOptions
from hubserve.gateway.drain import Drain
from hubserve.gateway.metering import Meter, meter_of
from hubserve.gateway.state import Services
from hubserve.protocol import GenerateCall, Generation
from hubserve.scheduler.scheduler import Lease
from hubserve.tasks.registry import GENERATION_TASKS
from hubserve.types.generation import SamplingParams, TokenEvent

# Model names that mean "the model this URL is bound to" (huggingface_hub sends "dummy", TGI clients "tgi").
BOUND_MODEL_ALIASES = frozenset({"", "dummy", "tgi"})


class NoDefaultModel(NotFound):
    """A request that names no model (or "dummy"/"tgi") on a server with no default model."""

    error_type = "no_default_model"


def no_default_model(requested: str | None = None) -> NoDefaultModel:
    """The error for a request that leaves the model to a server that has no default model."""
    asked = "No model was named" if requested is None else f"Model {requested!r} stands for the default model"
    return NoDefaultModel(
        f"{asked}, and this server has no default model: name one in the URL "
        "(/models/{namespace}/{name}/...) or the model field of the body, or start the server with "
        "HUBSERVE_DEFAULT_MODEL=namespace/name"
    )


def bound_model(request: Request, services: Services, requested: str | None, url_model: str | None) -> str:
    """The model a request names: its endpoint's, the URL's, else the body's, else the server default.

    A model in the URL wins whatever the body says (huggingface_hub sends "dummy" there, others the id).
    """
    bound = meter_of(request).endpoint
    if bound is not None:
        return str(bound.model_id)
    if url_model is not None:
        return url_model
    if requested and requested not in BOUND_MODEL_ALIASES:
        return requested
    if services.settings.default_model:
        return services.settings.default_model
    raise no_default_model(requested)


class Generator:
    """A generation model as the dialect services see it: one leased replica, one runner call per request."""

    def __init__(self, model: str, lease: Lease, meter: Meter, drain: Drain) -> None:
        info = lease.generation
        assert info is not None
        self.model = model  # the name the client asked for (an alias stays an alias)
        self._lease = lease
        self._meter = meter
        self._drain = drain
        self.context_length = info.context_length

    async def generate(
        self, prompt: str, params: SamplingParams, *, add_special: bool = True, prefill: bool = False
    ) -> Generation:
        """Start generating from prompt text; returns once the first token is there.

        The runner tokenizes the prompt, checks its room and generates, in one call; queue and validation
        errors surface here, before any response has started. Each token is counted on the request's
        meter as it passes, so a stream the client drops is still billed.
        """
        self._meter.characters = len(prompt)
        return await self._start(GenerateCall(prompt, params, add_special, prefill))

    async def chat(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], params: SamplingParams
    ) -> Generation:
        """Start generating a chat's reply: the runner renders the messages with the model's template."""
        self._meter.characters = sum(len(str(m.get("content") or "")) for m in messages)
        return await self._start(GenerateCall("", params, messages=messages, tools=tools or None))

    async def _start(self, call: GenerateCall) -> Generation:
        generation = await self._lease.generate(call)
        self._meter.count(generation.header.prompt_tokens, 0, "tokens")
        events = _counted(generation, self._meter, self._drain)
        return Generation(generation.header, events, generation.aclose)


async def _counted(
    events: AsyncIterable[TokenEvent], meter: Meter, drain: Drain
) -> AsyncIterator[TokenEvent]:
    """Count each token on the meter; an error that ends the stream is the status its usage records.

    Past the shutdown's grace the generation is cut, and its stream ends with a shutting_down error.
    """
    try:
        async for event in events:
            meter.output_count += 1
            yield event
            if drain.over and event.finish_reason is None:
                raise ShuttingDown(
                    f"The server is shutting down; the generation was cut after {meter.output_count} tokens"
                )
    except HubserveError as exc:
        meter.stream_status = exc.status_code
        raise


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

    async def with_generator(lease: Lease) -> Response:
        return await handler(Generator(admission.name, lease, meter_of(request), services.drain))

    return await serve_leased(services, admission, options, with_generator)


async def serve_leased(
    services: Services,
    admission: Admission,
    options: ServeOptions,
    handler: Callable[[Lease], Awaitable[Response]],
) -> Response:
    """Lease a replica of the admitted model and hold it until ``handler``'s response is sent in full."""
    model_id = admission.model_id
    stack = AsyncExitStack()
    lease = await stack.enter_async_context(
        services.scheduler.lease(
            model_id,
            hold_s=options.hold_s,
            keep_alive_s=options.keep_alive_s,
            deployment=admission.deployment,
        )
    )
    try:
        response = await handler(lease)
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


async def collect(generation: Generation) -> Collected:
    """Gather every event and the released text."""
    out = Collected()
    try:
        async for item in generation:
            out.tokens.append(item)
            out.text += item.delta
    finally:
        await generation.aclose()
    return out
