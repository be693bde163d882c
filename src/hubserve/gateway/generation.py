"""What the TGI, HF and OpenAI generation routes share: model binding, prompt tokens, primed streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from hubserve.errors import ModelNotFound
from hubserve.gateway.state import Services
from hubserve.hub.names import ModelId
from hubserve.runtimes.generation.base import SamplingParams, TokenEvent
from hubserve.runtimes.generation.loader import LoadedGenerator

# Model names that mean "the model this URL is bound to" (huggingface_hub sends "dummy", TGI clients "tgi").
BOUND_MODEL_ALIASES = frozenset({"", "dummy", "tgi"})


def bound_model(services: Services, requested: str | None, url_model: str | None) -> ModelId:
    """The model a generation request is for: the URL's, else the body's, else the server default."""
    if url_model is not None and (requested is None or requested in BOUND_MODEL_ALIASES):
        return ModelId.parse(url_model)
    if requested and requested not in BOUND_MODEL_ALIASES:
        return ModelId.parse(requested)
    if services.settings.default_model:
        return ModelId.parse(services.settings.default_model)
    raise ModelNotFound(
        f"Model {requested!r} names no model and no default model is set; pass a model id like 'org/name'"
    )


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
    generator: LoadedGenerator, prompt: list[int], params: SamplingParams
) -> AsyncIterator[TokenEvent]:
    """Start generating and wait for the first token, so queue and validation errors become HTTP errors."""
    stream: AsyncGenerator[TokenEvent, None] = generator.engine.stream(prompt, params)
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
