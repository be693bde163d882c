"""Generation on each GGUF engine: the same contract through the official clients, on real GGUF models.

Every test runs once per engine (``HUBSERVE_GGUF_ENGINE``): greedy determinism and usage counts, streams,
stop sequences, seeds, logprobs, logit bias, JSON schema and regex grammars, tools, the context limit,
metering, and a client that leaves mid-stream. Gemma 3 270M (a base model) answers completions, SmolLM2
(ChatML) chats.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from tests.conftest import GEMMA, SMOLLM, running_server
from tests.contract.test_openai_client import WEATHER

ENGINES = ("llama-server", "llama-cpp-python")
EOS_BAN = {"1": -100, "106": -100}  # Gemma 3's <eos> and <end_of_turn>: every completion runs to its limit
PROMPT = "The capital of France is"
HELD = {"X-Wait-For-Model": "true"}


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def engine_server(engine: str, hub_home: Path) -> Iterator[str]:
    env = {"HUBSERVE_GGUF_ENGINE": engine, "HUBSERVE_HOLD_COLD_REQUESTS_S": "180"}
    with running_server(hub_home, **env) as (url, _proc):
        yield url


@pytest.fixture(scope="module")
def admin(hub_home: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {(hub_home / 'admin.token').read_text()}"}


@pytest.fixture(scope="module")
def client(engine_server: str, admin: dict[str, str]) -> OpenAI:
    return OpenAI(
        base_url=f"{engine_server}/v1",
        api_key=admin["Authorization"][7:],
        max_retries=0,
        default_headers=HELD,
    )


def hf(server: str, admin: dict[str, str], model: str) -> InferenceClient:
    return InferenceClient(
        base_url=f"{server}/models/{model}", token=admin["Authorization"][7:], headers=HELD, timeout=180
    )


def runner_pid(server: str, admin: dict[str, str], model: str) -> int:
    ps = httpx.get(f"{server}/api/ps", headers=admin, timeout=30).json()
    (pid,) = [r["pid"] for m in ps["models"] if m["model"] == model for r in m["runners"]]
    return int(pid)


def test_the_engine_is_the_one_asked_for(
    engine: str, engine_server: str, admin: dict[str, str], client: OpenAI
) -> None:
    client.completions.create(model=GEMMA, prompt=PROMPT, max_tokens=1)
    maps = Path(f"/proc/{runner_pid(engine_server, admin, GEMMA)}/maps").read_text()
    assert ("xllamacpp." in maps, "libllama" in maps) == (
        engine == "llama-server",
        engine == "llama-cpp-python",
    )


def test_greedy_completions_are_deterministic_and_counted(client: OpenAI) -> None:
    first = client.completions.create(
        model=GEMMA, prompt=PROMPT, max_tokens=8, temperature=0, logit_bias=EOS_BAN
    )
    second = client.completions.create(
        model=GEMMA, prompt=PROMPT, max_tokens=8, temperature=0, logit_bias=EOS_BAN
    )
    assert first.choices[0].text == second.choices[0].text and first.choices[0].text.strip()
    assert first.choices[0].finish_reason == "length"
    assert first.usage.completion_tokens == 8
    assert first.usage.prompt_tokens == 6  # <bos> and five words
    assert first.usage.total_tokens == first.usage.prompt_tokens + 8


def test_a_stream_says_what_the_whole_answer_says(client: OpenAI) -> None:
    whole = client.completions.create(
        model=GEMMA, prompt=PROMPT, max_tokens=12, temperature=0, logit_bias=EOS_BAN
    )
    chunks = list(
        client.completions.create(
            model=GEMMA,
            prompt=PROMPT,
            max_tokens=12,
            temperature=0,
            logit_bias=EOS_BAN,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


def test_stop_sequences_cut_the_text_and_say_so(engine_server: str, admin: dict[str, str]) -> None:
    client = hf(engine_server, admin, GEMMA)
    free = client.text_generation(PROMPT, max_new_tokens=12, details=True, return_full_text=False)
    words = free.generated_text.split()
    assert len(words) >= 3, free.generated_text
    stop = words[2]
    cut = client.text_generation(PROMPT, max_new_tokens=12, stop=[stop], details=True, return_full_text=False)
    assert cut.details.finish_reason == "stop_sequence"
    assert stop not in cut.generated_text and free.generated_text.startswith(cut.generated_text)
    assert cut.details.generated_tokens == len(cut.details.tokens) < 12
    events = list(
        client.text_generation(
            PROMPT, max_new_tokens=12, stop=[stop], stream=True, details=True, return_full_text=False
        )
    )
    assert events[-1].details.finish_reason == "stop_sequence"
    assert events[-1].generated_text == cut.generated_text


def test_a_seed_repeats_a_sampled_answer(client: OpenAI) -> None:
    def sample(seed: int) -> str:
        out = client.completions.create(
            model=GEMMA, prompt=PROMPT, max_tokens=16, temperature=1.0, seed=seed, logit_bias=EOS_BAN
        )
        return out.choices[0].text

    assert sample(7) == sample(7)
    assert len({sample(7), sample(8), sample(9), sample(2**40 + 7)}) > 1


def test_logprobs_rank_the_alternatives(client: OpenAI, engine_server: str, admin: dict[str, str]) -> None:
    out = client.chat.completions.create(
        model=SMOLLM,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    content = out.choices[0].logprobs.content
    assert 1 <= len(content) <= 5
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert entry.logprob == pytest.approx(tops[0], abs=1e-3)  # greedy picks the best
    details = hf(engine_server, admin, GEMMA).text_generation(
        PROMPT,
        max_new_tokens=4,
        details=True,
        top_n_tokens=2,
        decoder_input_details=True,
        return_full_text=False,
    )
    assert len(details.details.tokens) == 4 and all(t.logprob <= 0 for t in details.details.tokens)
    assert all(len(top) == 2 for top in details.details.top_tokens)
    assert details.details.prefill[0].id == 2  # <bos>
    assert "".join(t.text for t in details.details.tokens) == details.generated_text


def test_logit_bias_bans_and_forces_tokens(client: OpenAI, engine_server: str, admin: dict[str, str]) -> None:
    greedy = hf(engine_server, admin, GEMMA).text_generation(
        PROMPT, max_new_tokens=1, details=True, top_n_tokens=3, return_full_text=False
    )
    best = greedy.details.tokens[0].id
    runner_up = next(t["id"] for t in greedy.details.top_tokens[0] if t["id"] != best)

    def first(bias: dict[str, int]) -> str:
        out = client.completions.create(
            model=GEMMA, prompt=PROMPT, max_tokens=3, temperature=0, logit_bias=bias
        )
        return out.choices[0].text

    assert first({}).startswith(greedy.generated_text)
    assert not first({str(best): -100}).startswith(greedy.generated_text)
    forced = first({str(runner_up): 100})
    assert forced != first({})


def test_json_schema_output_conforms(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    out = client.chat.completions.create(
        model=SMOLLM,
        messages=[{"role": "user", "content": "Give the largest city of France and its population as JSON."}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    value = json.loads(out.choices[0].message.content)
    assert set(value) == {"city", "population"} and isinstance(value["population"], int)


def test_a_regex_is_followed_and_a_broken_one_refused(client: OpenAI) -> None:
    out = client.completions.create(
        model=GEMMA,
        prompt="A phone extension:",
        max_tokens=10,
        temperature=0,
        extra_body={"response_format": {"type": "regex", "value": "[0-9]{3}-[a-c]{2}/x"}},
    )
    assert re.fullmatch("[0-9]{3}-[a-c]{2}/x", out.choices[0].text), out.choices[0].text
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(
            model=GEMMA,
            prompt="x",
            max_tokens=4,
            extra_body={"response_format": {"type": "regex", "value": "(["}},
        )
    assert caught.value.code == "validation" and caught.value.param == "response_format"


def test_a_forced_tool_call_has_valid_arguments(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model=SMOLLM,
        messages=[{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=80,
        temperature=0,
    )
    assert out.choices[0].finish_reason == "tool_calls"
    (call,) = out.choices[0].message.tool_calls
    args = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and set(args) == {"city", "days"} and 1 <= args["days"] <= 9


def test_a_prompt_longer_than_the_context_is_refused(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=GEMMA, prompt="hello " * 2100, max_tokens=4)
    assert caught.value.code == "validation"


def test_usage_is_metered_in_tokens(engine_server: str, admin: dict[str, str], client: OpenAI) -> None:
    time.sleep(1.1)  # usage is asked for from this second on
    since = int(time.time())
    out = client.completions.create(
        model=GEMMA, prompt=PROMPT, max_tokens=7, temperature=0, logit_bias=EOS_BAN
    )

    def totals() -> dict[str, int]:
        usage = httpx.get(f"{engine_server}/api/usage", params={"start": since}, headers=admin).json()
        return {k: int(usage["totals"][k]) for k in ("input_tokens", "output_tokens")}

    deadline = time.monotonic() + 10  # usage records are written after the answer
    while totals()["output_tokens"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert totals() == {"input_tokens": out.usage.prompt_tokens, "output_tokens": 7}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_client_that_leaves_stops_its_generation(engine_server: str, admin: dict[str, str]) -> None:
    body = {"model": GEMMA, "prompt": PROMPT, "max_tokens": 1500, "stream": True, "logit_bias": EOS_BAN}
    with httpx.stream(
        "POST", f"{engine_server}/v1/completions", json=body, headers={**admin, **HELD}, timeout=60
    ) as response:
        lines = response.iter_lines()
        for _ in range(4):
            next(lines)
        pid = runner_pid(engine_server, admin, GEMMA)
        before = cpu_seconds(pid)
        time.sleep(0.5)
        assert cpu_seconds(pid) - before > 0.2  # decoding: the runner computes
    time.sleep(1.0)  # the engine sees the closed stream at its next token
    before = cpu_seconds(pid)
    time.sleep(1.0)
    assert cpu_seconds(pid) - before < 0.1, "the generation must stop when its client goes away"
