"""The official openai client against a live hubserve: chat, completions, streaming, JSON, tools, errors."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest
from openai import OpenAI

LLAMA = "test/tiny-llama"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 12},
                "days": {"type": "integer", "minimum": 1, "maximum": 9},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
HELLO = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def client(server: str) -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key="test", max_retries=0)


def test_create_is_deterministic_when_greedy(client: OpenAI) -> None:
    first = client.chat.completions.create(model=LLAMA, messages=HELLO, max_tokens=8, temperature=0)
    second = client.chat.completions.create(model=LLAMA, messages=HELLO, max_tokens=8, temperature=0)
    assert first.object == "chat.completion" and first.id.startswith("chatcmpl-")
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].finish_reason == "length"
    assert first.usage.completion_tokens == 8
    assert first.usage.total_tokens == first.usage.prompt_tokens + 8


def test_stream_matches_create_and_reports_usage(client: OpenAI) -> None:
    whole = client.chat.completions.create(model=LLAMA, messages=HELLO, max_tokens=12, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=LLAMA,
            messages=HELLO,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_json_schema_output_conforms(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 10},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    out = client.chat.completions.create(
        model=LLAMA,
        messages=HELLO,
        max_tokens=60,
        seed=1,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    data = json.loads(out.choices[0].message.content)
    assert set(data) == {"name", "age"} and isinstance(data["name"], str) and 0 <= data["age"] <= 120
    assert out.choices[0].finish_reason == "stop"


def test_json_object_mode_parses(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model=LLAMA,
        messages=HELLO,
        max_tokens=80,
        temperature=0,
        response_format={"type": "json_object"},
        extra_body={"repetition_penalty": 1.3},
    )
    assert isinstance(json.loads(out.choices[0].message.content), dict)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_call(client: OpenAI, choice: object) -> None:
    out = client.chat.completions.create(
        model=LLAMA,
        messages=[{"role": "user", "content": "weather in paris?"}],
        tools=[WEATHER],
        tool_choice=choice,
        max_tokens=60,
        seed=3,
    )
    message = out.choices[0].message
    assert out.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    args = json.loads(call.function.arguments)
    assert set(args) == {"city", "days"} and 1 <= args["days"] <= 9


def test_streamed_tool_call(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=LLAMA,
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER],
            tool_choice="required",
            max_tokens=60,
            stream=True,
            seed=3,
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas)
    assert set(json.loads(arguments)) == {"city", "days"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_results_round_trip(client: OpenAI) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    out = client.chat.completions.create(model=LLAMA, messages=messages, tools=[WEATHER], max_tokens=5)
    assert out.choices[0].finish_reason in {"length", "stop", "tool_calls"}


def test_logprobs(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model=LLAMA, messages=HELLO, max_tokens=5, temperature=0, logprobs=True, top_logprobs=3
    )
    content = out.choices[0].logprobs.content
    assert len(content) == 5
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob >= entry.top_logprobs[2].logprob
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob)  # greedy picks the best


def test_completions(client: OpenAI) -> None:
    out = client.completions.create(
        model=LLAMA, prompt="the city of", max_tokens=6, temperature=0, logprobs=2
    )
    assert out.object == "text_completion" and out.usage.completion_tokens == 6
    assert len(out.choices[0].logprobs.tokens) == 6
    echoed = client.completions.create(
        model=LLAMA, prompt="the city of", max_tokens=6, temperature=0, echo=True
    )
    assert echoed.choices[0].text == "the city of" + out.choices[0].text
    many = client.completions.create(model=LLAMA, prompt=["a", "b"], max_tokens=3, temperature=0)
    assert [c.index for c in many.choices] == [0, 1]
    streamed = client.completions.create(
        model=LLAMA, prompt="the city of", max_tokens=6, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == out.choices[0].text


def test_logit_bias_forces_and_bans_a_token(client: OpenAI) -> None:
    def tokens(bias: dict[str, int]) -> list[str]:
        out = client.completions.create(
            model=LLAMA, prompt="the city of", max_tokens=4, temperature=0, logprobs=1, logit_bias=bias
        )
        return list(out.choices[0].logprobs.tokens)

    forced = tokens({"70": 100})
    assert len(forced) == 4 and len(set(forced)) == 1, forced
    assert forced[0] not in tokens({"70": -100})


def test_models(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {LLAMA, "google/gemma-3-270m", "test/tiny-cls"} <= ids
    model = client.models.retrieve(LLAMA)
    assert model.id == LLAMA and model.owned_by == "test"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": HELLO, "temperature": 5}, "temperature"),
        ({"messages": HELLO, "n": 2}, "n"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"messages": HELLO, "top_logprobs": 2}, "top_logprobs"),
        ({"messages": HELLO, "tool_choice": "sometimes", "tools": [WEATHER]}, "tool_choice"),
        (
            {
                "messages": HELLO,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "x"}},
            },
            "tool_choice",
        ),
        ({"messages": HELLO, "response_format": {"type": "yaml"}}, "response_format"),
        ({"messages": HELLO, "response_format": {"type": "regex", "value": "(("}}, "response_format"),
        ({"messages": HELLO, "max_tokens": 0}, "max_tokens"),
        ({"messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_bad_requests(client: OpenAI, kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=LLAMA, **kwargs)  # type: ignore[call-overload]
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.code


def test_unknown_model_and_wrong_task(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="test/nothing", messages=HELLO)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as wrong:
        client.chat.completions.create(model="test/tiny-cls", messages=HELLO)
    assert wrong.value.code == "task_not_supported"


def test_prompt_longer_than_context(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "hello " * 2000}])
    assert caught.value.code == "validation"


def test_non_json_body_is_openai_shaped(server: str) -> None:
    r = httpx.post(
        f"{server}/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "validation"


def test_completions_follow_a_regex_and_refuse_an_invalid_one(client: OpenAI) -> None:
    out = client.completions.create(
        model=LLAMA,
        prompt="hello",
        max_tokens=8,
        temperature=0,
        extra_body={"response_format": {"type": "regex", "value": "[0-9]{3}-[a-c]{2}"}},
    )
    assert re.fullmatch("[0-9]{3}-[a-c]{2}", out.choices[0].text), out.choices[0].text
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(
            model=LLAMA,
            prompt="hello",
            max_tokens=4,
            extra_body={"response_format": {"type": "regex", "value": "(["}},
        )
    assert caught.value.code == "validation" and caught.value.param == "response_format"
