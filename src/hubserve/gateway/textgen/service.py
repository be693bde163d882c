"""Run a TGI-style generation and shape the answer: one object, a list (HF compat), or SSE token events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response

from hubserve.errors import HubserveError
from hubserve.gateway.generation import Generator, collect
from hubserve.gateway.sse import event, sse_response
from hubserve.gateway.textgen.protocol import GenerateRequest
from hubserve.protocol import Generation
from hubserve.types.generation import TokenEvent


def _token(item: TokenEvent) -> dict[str, Any]:
    return {"id": item.id, "text": item.text, "logprob": item.logprob, "special": item.special}


def _top(item: TokenEvent) -> list[dict[str, Any]]:
    return [{"id": t.id, "text": t.text, "logprob": t.logprob, "special": False} for t in item.top]


async def generate(
    generator: Generator, request: GenerateRequest, *, full_text_default: bool, as_list: bool
) -> Response:
    """Serve one request; ``as_list`` answers ``[GenerateResponse]`` as TGI's ``POST /`` does."""
    params = request.parameters
    sampling = params.sampling()
    events = await generator.generate(request.inputs, sampling, prefill=params.decoder_input_details)
    full_text = params.return_full_text if params.return_full_text is not None else full_text_default
    prefix = request.inputs if full_text else ""
    if request.stream:
        return sse_response(_stream(events, prefix, params.details, bool(params.top_n_tokens)))
    done = await collect(events)
    body: dict[str, Any] = {"generated_text": prefix + done.text}
    if params.details:
        body["details"] = _details(done.tokens, list(events.header.prefill), bool(params.top_n_tokens))
    return JSONResponse([body] if as_list else body)


def _details(tokens: list[TokenEvent], prefill: list[tuple[int, str]], with_top: bool) -> dict[str, Any]:
    last = tokens[-1]
    return {
        "finish_reason": last.finish_reason,
        "generated_tokens": last.generated_tokens,
        "seed": last.seed,
        "prefill": [{"id": i, "text": text, "logprob": None} for i, text in prefill],
        "tokens": [_token(t) for t in tokens],
        "top_tokens": [_top(t) for t in tokens] if with_top else None,
        "best_of_sequences": None,
    }


async def _stream(events: Generation, prefix: str, details: bool, with_top: bool) -> AsyncIterator[str]:
    text = ""
    index = 0
    try:
        async for item in events:
            index += 1
            text += item.delta
            last = item.finish_reason is not None
            body: dict[str, Any] = {
                "index": index,
                "token": _token(item),
                "top_tokens": _top(item) if with_top else None,
                "generated_text": prefix + text if last else None,
                "details": None,
            }
            if last and details:
                body["details"] = {
                    "finish_reason": item.finish_reason,
                    "generated_tokens": item.generated_tokens,
                    "input_length": item.prompt_tokens,
                    "seed": item.seed,
                }
            yield event(body, space=False)
    except HubserveError as exc:
        yield event({"error": exc.message, "error_type": exc.error_type}, space=False)
    finally:
        await events.aclose()
