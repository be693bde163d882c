"""The SDK's clients on scripted answers: streams retried only before their first byte, in-band errors,
which 503s are waited out, argument checks, and results read from JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub.errors import HfHubHTTPError

from hubserve.client import AsyncInferenceClient, InferenceClient, RetryPolicy
from hubserve.client import results as r
from hubserve.client.calls import TASKS, bind
from hubserve.client.errors import (
    APIConnectionError,
    APITimeoutError,
    EndpointUnavailableError,
    GenerationError,
    ModelLoadingError,
    OverloadedError,
    ServerError,
    ValidationError,
    error_from_answer,
)

FAST = RetryPolicy(max_attempts=4, backoff_s=0.001, jitter=lambda high: high)


def sse(*events: Any, done: bool = False) -> bytes:
    lines = [f"data:{json.dumps(e)}\n\n" for e in events]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def token(i: int, text: str) -> dict[str, Any]:
    return {"index": i, "token": {"id": i, "text": text, "logprob": -0.5, "special": False}}


Answer = httpx.Response | Exception


def scripted(answers: list[Answer]) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def sync_client(answers: list[Answer], **settings: Any) -> tuple[InferenceClient, list[httpx.Request]]:
    handler, seen = scripted(answers)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return InferenceClient(
        base_url="http://hs.test", token="hs_x", retry=FAST, http_client=http, **settings
    ), seen


def loading() -> httpx.Response:
    return httpx.Response(
        503, headers={"X-Error-Type": "model_loading"}, json={"error": "loading", "estimated_time": 0}
    )


def sse_answer() -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=sse(token(0, "a"), token(1, "b"))
    )


def test_a_stream_is_retried_before_its_first_byte_and_yields_tokens() -> None:
    client, seen = sync_client([httpx.ConnectError("refused"), loading(), sse_answer()])
    assert list(client.text_generation("hi", model="org/m", stream=True)) == ["a", "b"]
    assert len(seen) == 3
    body = json.loads(seen[0].content)
    assert body == {"inputs": "hi", "parameters": {"details": False}, "stream": True}
    assert seen[0].url.path == "/models/org/m" and seen[0].headers["authorization"] == "Bearer hs_x"


def test_an_error_after_the_first_token_is_raised_typed_and_not_retried() -> None:
    broken = httpx.Response(
        200, content=sse(token(0, "a"), {"error": "the runner stopped", "error_type": "generation"})
    )
    client, seen = sync_client([broken, sse_answer()])
    stream = client.text_generation("hi", model="org/m", stream=True)
    assert next(stream) == "a"
    with pytest.raises(GenerationError, match="the runner stopped"):
        next(stream)
    assert len(seen) == 1


def test_an_openai_in_band_error_in_a_chat_stream() -> None:
    chunk = {"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}]}
    bad = {"error": {"message": "too long", "type": "invalid_request_error", "code": "validation"}}
    client, _ = sync_client([httpx.Response(200, content=sse(chunk, bad, done=True))])
    stream = client.chat_completion([{"role": "user", "content": "hi"}], model="m", stream=True)
    assert next(stream).choices[0].delta.content == "x"
    with pytest.raises(ValidationError, match="too long"):
        next(stream)


def test_a_post_that_reached_the_server_is_not_sent_again() -> None:
    client, seen = sync_client([httpx.ReadError("reset"), sse_answer()])
    with pytest.raises(APIConnectionError) as broken:
        client.text_generation("hi", model="org/m", stream=True)
    assert len(seen) == 1 and isinstance(broken.value.__cause__, httpx.ReadError)
    assert isinstance(broken.value, ConnectionError)
    # An encoder call is a pure function of its input: sent again after the same reset.
    vector = httpx.Response(200, json=[0.5, 0.25])
    client, seen = sync_client([httpx.ReadError("reset"), vector])
    assert client.feature_extraction("hi", model="org/m").tolist() == [0.5, 0.25]
    assert len(seen) == 2


def test_a_paused_endpoint_is_not_waited_for_but_an_overload_is() -> None:
    paused = httpx.Response(
        503, headers={"X-Error-Type": "endpoint_unavailable", "Retry-After": "30"}, json={"error": "paused"}
    )
    client, seen = sync_client([paused, httpx.Response(200, json=[1.0])])
    with pytest.raises(EndpointUnavailableError):
        client.feature_extraction("hi")
    assert len(seen) == 1
    busy = httpx.Response(
        503, headers={"X-Error-Type": "overloaded", "Retry-After": "0"}, json={"error": "full"}
    )
    client, seen = sync_client([busy, httpx.Response(200, json=[1.0])])
    assert client.feature_extraction("hi").tolist() == [1.0]
    assert len(seen) == 2 and seen[0].url.path == "/"


def test_503s_of_no_known_kind_are_waited_out_only_when_they_say_how_long() -> None:
    bare = error_from_answer(503, {}, b"<html>Service Unavailable</html>")
    assert type(bare) is ServerError and bare.server_message.startswith("<html>")
    told = httpx.Response(503, headers={"Retry-After": "0"}, content=b"busy")
    client, seen = sync_client([told, httpx.Response(200, json=[2.0])])
    assert client.feature_extraction("hi").tolist() == [2.0] and len(seen) == 2
    client, seen = sync_client([httpx.Response(503, content=b"busy"), httpx.Response(200, json=[2.0])])
    with pytest.raises(ServerError):
        client.feature_extraction("hi")
    assert len(seen) == 1


def test_wait_for_model_asks_the_server_to_hold_the_request() -> None:
    client, seen = sync_client(
        [httpx.Response(200, json=[[{"label": "POSITIVE", "score": 0.9}]])], wait_for_model=True
    )
    out = client.text_classification("great", model="org/cls", top_k=1)
    assert out == [r.TextClassificationOutputElement("POSITIVE", 0.9)] and out[0]["label"] == "POSITIVE"
    assert seen[0].headers["x-wait-for-model"] == "true"
    assert seen[0].url.path == "/models/org/cls/pipeline/text-classification"
    assert json.loads(seen[0].content) == {"inputs": "great", "parameters": {"top_k": 1}}


def test_the_async_client_sends_what_the_sync_one_does() -> None:
    async def go() -> tuple[list[str], list[httpx.Request]]:
        handler, seen = scripted([loading(), sse_answer()])
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncInferenceClient(base_url="http://hs.test", retry=FAST, http_client=http) as client:
            stream = await client.text_generation("hi", model="org/m", stream=True)
            return [t async for t in stream], seen

    tokens, seen = asyncio.run(go())
    assert tokens == ["a", "b"] and len(seen) == 2


def test_files_with_parameters_go_as_base64_json_and_without_as_the_body() -> None:
    answer = httpx.Response(200, json=[{"label": "cat", "score": 1.0}])
    client, seen = sync_client([answer, answer])
    client.image_classification(b"\x89PNG....", model="org/vit")
    client.image_classification(b"\x89PNG....", model="org/vit", top_k=1)
    assert seen[0].content == b"\x89PNG...." and seen[0].headers["content-type"] == "application/octet-stream"
    assert json.loads(seen[1].content) == {"inputs": "iVBORy4uLi4=", "parameters": {"top_k": 1}}


def test_arguments_are_checked_as_a_signature_would_be() -> None:
    spec = TASKS["zero_shot_classification"]
    inputs, parameters = bind(spec, "z", ("text",), {"candidate_labels": ["a", "b"], "multi_label": True})
    assert inputs == "text" and parameters == {"candidate_labels": ["a", "b"], "multi_label": True}
    with pytest.raises(TypeError, match="takes 2 positional arguments"):
        bind(spec, "z", ("a", ["b"], "c"), {})
    with pytest.raises(TypeError, match="unexpected keyword argument 'top_k'"):
        bind(spec, "z", ("a",), {"top_k": 1})
    with pytest.raises(TypeError, match="missing its argument 'context'"):
        bind(TASKS["question_answering"], "qa", ("where?",), {})


def test_results_read_nested_json_drop_unknown_fields_and_read_like_dicts() -> None:
    raw = {
        "generated_text": "hi",
        "details": {
            "finish_reason": "length",
            "generated_tokens": 1,
            "tokens": [{"id": 3, "text": "hi", "logprob": -1, "special": False}],
            "new_field": True,
        },
        "another": 1,
    }
    out = r.read(r.TextGenerationOutput, raw)
    assert out.details is not None
    assert out.details.tokens[0] == r.TextGenerationOutputToken(3, "hi", -1.0, False)
    assert isinstance(out.details.tokens[0].logprob, float)
    assert dict(out)["generated_text"] == "hi" and out.get("missing", 5) == 5
    with pytest.raises(KeyError):
        out["another"]


def test_embeddings_are_float32_arrays() -> None:
    client, _ = sync_client([httpx.Response(200, json=[[1, 2], [3, 4]])])
    vectors = client.feature_extraction(["a", "b"], model="org/e")
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 and vectors.shape == (2, 2)


def test_loading_errors_carry_their_estimate() -> None:
    error = error_from_answer(
        503, {"x-error-type": "model_loading"}, b'{"error": "x", "estimated_time": 7.5}'
    )
    assert isinstance(error, ModelLoadingError) and error.estimated_time == 7.5
    full = error_from_answer(429, {"x-error-type": "overloaded", "retry-after": "2"}, b'{"error": "queue"}')
    assert isinstance(full, OverloadedError) and full.retry_after == 2.0


def test_token_from_the_argument_api_key_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hs_hf")
    assert InferenceClient().headers["Authorization"] == "Bearer hs_hf"
    monkeypatch.setenv("HUBSERVE_TOKEN", "hs_own")
    monkeypatch.setenv("HUBSERVE_URL", "http://elsewhere:9000/")
    client = InferenceClient()
    assert client.headers["Authorization"] == "Bearer hs_own" and client.base_url == "http://elsewhere:9000"
    assert InferenceClient(api_key="hs_key").headers["Authorization"] == "Bearer hs_key"
    assert InferenceClient(token="hs_arg", api_key="hs_key").headers["Authorization"] == "Bearer hs_arg"
    by_url = InferenceClient("http://host:1/models/org/m")
    assert (by_url.base_url, by_url.model) == ("http://host:1/models/org/m", None)


def test_a_load_that_outlasts_its_estimate_is_waited_for_by_retry_after_then_longer() -> None:
    def late() -> httpx.Response:
        headers = {"X-Error-Type": "model_loading", "Retry-After": "1"}
        return httpx.Response(503, headers=headers, json={"error": "loading", "estimated_time": 0.05})

    waits: list[float] = []
    policy = RetryPolicy(backoff_s=0.001, on_retry=lambda n, wait, err: waits.append(wait))
    handler, seen = scripted([late(), late(), httpx.Response(200, json=[1.0])])
    client = InferenceClient(
        base_url="http://hs.test",
        retry=policy,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert client.feature_extraction("x").tolist() == [1.0]
    assert waits == [1.0, 1.0] and len(seen) == 3  # Retry-After, not the spent estimate
    from hubserve.client.retry import wait_before_retry

    spent = error_from_answer(503, {"x-error-type": "model_loading"}, b'{"error": "x", "estimated_time": 0}')
    grows = [wait_before_retry(RetryPolicy(), n, spent, 0.0) for n in (1, 4, 8)]
    assert grows == [0.5, 4.0, 30.0]  # the backoff, capped at max_backoff_s


def test_an_http_error_keeps_its_response_as_huggingface_hubs_does() -> None:
    client, _ = sync_client([httpx.Response(404, headers={"X-Request-Id": "r1"}, json={"error": "nope"})])
    with pytest.raises(HfHubHTTPError) as caught:
        client.feature_extraction("x", model="org/none")
    assert caught.value.response.status_code == 404
    assert caught.value.request_id == "r1"


def test_a_server_that_never_answers_is_a_timeout_error_of_the_sdk() -> None:
    client, seen = sync_client([httpx.ReadTimeout("slow")] * 4)
    with pytest.raises(APITimeoutError) as caught:
        client.feature_extraction("x")
    assert isinstance(caught.value, TimeoutError) and len(seen) == 4  # FAST: 4 attempts


def test_token_false_sends_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hs_env")
    assert "Authorization" not in InferenceClient(token=False).headers
    assert InferenceClient(token=True).headers["Authorization"] == "Bearer hs_env"
