"""huggingface_hub's text_generation and chat_completion, and raw TGI routes, against a live hubserve."""

from __future__ import annotations

import json

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import ValidationError

LLAMA = "test/tiny-llama"
GPT2 = "test/tiny-gpt2"


def model_client(server: str, model: str = LLAMA) -> InferenceClient:
    return InferenceClient(model=f"{server}/models/{model}", token="unused")


@pytest.mark.parametrize("model", [LLAMA, GPT2])
def test_text_generation_with_details(server: str, model: str) -> None:
    out = model_client(server, model).text_generation("hello world", max_new_tokens=6, details=True)
    assert out.details.finish_reason == "length"
    assert out.details.generated_tokens == 6
    assert len(out.details.tokens) == 6
    assert all(t.logprob <= 0 for t in out.details.tokens)
    assert out.generated_text.startswith(
        "hello world"
    )  # the HF route echoes the prompt, as TGI's POST / does
    assert out.generated_text[len("hello world") :] == "".join(t.text for t in out.details.tokens)


def test_return_full_text_false(server: str) -> None:
    full = model_client(server).text_generation("hello world", max_new_tokens=5)
    short = model_client(server).text_generation("hello world", max_new_tokens=5, return_full_text=False)
    assert full == "hello world" + short


def test_text_generation_stream(server: str) -> None:
    client = model_client(server)  # keep a reference: the client closes its connections when collected
    whole = client.text_generation("hello world", max_new_tokens=8, return_full_text=False)
    events = list(client.text_generation("hello world", max_new_tokens=8, stream=True, details=True))
    assert len(events) == 8
    assert "".join(e.token.text for e in events) == whole
    assert events[-1].details.finish_reason == "length" and events[-1].details.generated_tokens == 8
    assert events[-1].generated_text is not None and events[0].generated_text is None
    tokens = list(client.text_generation("hello world", max_new_tokens=8, stream=True))
    assert "".join(tokens) == whole


def test_grammar(server: str) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    out = model_client(server).text_generation(
        "hello", max_new_tokens=30, grammar={"type": "json", "value": schema}, return_full_text=False
    )
    assert isinstance(json.loads(out)["ok"], bool)


def test_stop_sequences(server: str) -> None:
    whole = model_client(server).text_generation("hello world", max_new_tokens=20, return_full_text=False)
    stop = whole[4:6]
    cut = model_client(server).text_generation(
        "hello world", max_new_tokens=20, return_full_text=False, stop=[stop], details=True
    )
    assert cut.generated_text == whole[: whole.index(stop)]
    assert cut.details.finish_reason == "stop_sequence"


def test_bad_parameters_raise_validation_error(server: str) -> None:
    with pytest.raises(ValidationError):
        model_client(server).text_generation("hello", max_new_tokens=0)
    with pytest.raises(ValidationError):
        model_client(server).text_generation("hello", temperature=-1.0)
    with pytest.raises(ValidationError):
        model_client(server).text_generation("hello", typical_p=0.5)


def test_chat_completion_on_model_url(server: str) -> None:
    client = model_client(server)
    out = client.chat_completion([{"role": "user", "content": "hello"}], max_tokens=6, temperature=0)
    assert out.choices[0].finish_reason == "length"
    stream = list(
        client.chat_completion(
            [{"role": "user", "content": "hello"}], max_tokens=6, temperature=0, stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        == out.choices[0].message.content
    )


def test_chat_completion_on_base_url(server: str) -> None:
    client = InferenceClient(base_url=f"{server}/v1", token="unused")
    out = client.chat_completion(
        [{"role": "user", "content": "hello"}], model=LLAMA, max_tokens=6, temperature=0
    )
    same = model_client(server).chat_completion(
        [{"role": "user", "content": "hello"}], max_tokens=6, temperature=0
    )
    assert out.choices[0].message.content == same.choices[0].message.content
    root = InferenceClient(base_url=server, token="unused")
    chunks = list(
        root.chat_completion(
            [{"role": "user", "content": "hello"}], model=LLAMA, max_tokens=6, temperature=0, stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == same.choices[0].message.content
    )


def test_tgi_routes(server: str) -> None:
    body = {"inputs": "hello world", "parameters": {"max_new_tokens": 4, "details": True}}
    one = httpx.post(f"{server}/models/{LLAMA}/generate", json=body).json()
    assert isinstance(one, dict) and one["details"]["generated_tokens"] == 4
    assert not one["generated_text"].startswith("hello world")  # /generate does not echo by default
    with httpx.stream("POST", f"{server}/models/{LLAMA}/generate_stream", json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data:{") for line in lines)
    last = json.loads(lines[-1][5:])
    assert last["generated_text"] == one["generated_text"] and last["details"]["finish_reason"] == "length"
    assert httpx.post(f"{server}/generate", json=body).status_code == 404  # no default model is set


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": "", "parameters": {}},
        {"inputs": "x", "parameters": {"top_p": 1.5}},
        {"inputs": "x", "parameters": {"stop": ["a"] * 9}},
        {"inputs": "x", "parameters": {"grammar": {"type": "regex", "value": ""}}},
        {"inputs": "x", "parameters": {"mystery": 1}},
        {"inputs": 5},
        {"inputs": "x", "options": {"wait_for_model": "soon"}},
    ],
)
def test_tgi_bad_input(server: str, body: dict[str, object]) -> None:
    r = httpx.post(f"{server}/models/{LLAMA}/generate", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["x-error-type"] == "validation"


@pytest.mark.parametrize(
    ("path", "body", "task"),
    [
        (
            f"/models/{GPT2}",
            {"inputs": "Hello there", "parameters": {"max_new_tokens": 2}},
            "text-generation",
        ),
        (f"/models/{GPT2}/generate", {"inputs": "Hello there", "parameters": {"max_new_tokens": 2}}, None),
        ("/v1/completions", {"model": GPT2, "prompt": "Hello there", "max_tokens": 2}, None),
        ("/v1/completions", {"model": GPT2, "prompt": "Hello there", "max_tokens": 2, "stream": True}, None),
    ],
)
def test_generation_answers_carry_the_compute_headers(
    server: str, path: str, body: dict[str, object], task: str | None
) -> None:
    response = httpx.post(f"{server}{path}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["x-model-id"] == GPT2 and headers["x-compute-type"] == "cpu"
    assert headers["x-task"] == (task or "text-generation")
    assert float(headers["x-compute-time"]) > 0
    assert headers["x-compute-characters"] == str(len("Hello there"))
