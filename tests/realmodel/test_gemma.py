"""The real Gemma 3 270M GGUF on llama.cpp: answers, structured output, concurrency, disconnects."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from tests.conftest import GEMMA

pytestmark = pytest.mark.realmodel


def test_knows_the_capital_of_france(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model=GEMMA,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=20,
        temperature=0,
    )
    assert "Paris" in out.choices[0].message.content
    assert "User:" not in out.choices[0].message.content  # the plain template's stop keeps to one turn


def test_completion_with_hf_client(server: str) -> None:
    text = InferenceClient(model=f"{server}/models/{GEMMA}").text_generation(
        "The capital of France is Paris. The capital of Germany is", max_new_tokens=8, return_full_text=False
    )
    assert "Berlin" in text


def test_json_schema_on_a_real_model(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 30},
            "country": {"type": "string", "maxLength": 30},
        },
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    out = client.chat.completions.create(
        model=GEMMA,
        messages=[{"role": "user", "content": "Name a city and its country as JSON."}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    )
    data = json.loads(out.choices[0].message.content)
    assert set(data) == {"city", "country"}


def test_eight_concurrent_streams_all_finish(client: OpenAI) -> None:
    def run(i: int) -> tuple[int, str | None]:
        chunks = list(
            client.chat.completions.create(
                model=GEMMA,
                messages=[{"role": "user", "content": f"Tell story number {i}."}],
                max_tokens=24,
                stream=True,
                extra_body={"ignore_eos": True},
                seed=i,
            )
        )
        pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
        return len(pieces), chunks[-1].choices[0].finish_reason

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    # "stop" is the plain template's turn marker showing up; nothing may end in an error or be cut short.
    assert all(reason in {"length", "stop"} and count > 0 for count, reason in results), results


def _active(server: str, admin: dict[str, str]) -> int:
    loaded = httpx.get(f"{server}/api/ps", headers=admin).json()["models"]
    return sum(m.get("active", 0) + m.get("waiting", 0) for m in loaded if m["model"] == GEMMA)


def test_disconnect_cancels_generation(server: str, admin_headers: dict[str, str]) -> None:
    body = {
        "model": GEMMA,
        "messages": [{"role": "user", "content": "Write a long essay."}],
        "max_tokens": 1500,
        "stream": True,
        "ignore_eos": True,
    }
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, timeout=30) as response:
        lines = response.iter_lines()
        for _ in range(4):
            next(lines)
        assert _active(server, admin_headers) == 1
    deadline = time.monotonic() + 5
    while _active(server, admin_headers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _active(server, admin_headers) == 0, "the generation must stop when its client goes away"
