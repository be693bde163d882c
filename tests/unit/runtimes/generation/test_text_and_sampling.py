from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hubserve.runtimes.generation.sampling import apply_penalties, choose, log_softmax
from hubserve.runtimes.generation.text import TextAssembler
from hubserve.tasks.chat_template import PLAIN_TEMPLATE, render
from hubserve.tasks.tool_calls import forced_schema, parse_calls
from hubserve.types.generation import SamplingParams


def test_assembler_holds_back_partial_stop_sequences() -> None:
    asm = TextAssembler(stops=("END",))
    assert asm.feed(b"hello E") == "hello "
    assert asm.feed(b"N") == ""
    assert asm.feed(b"X") == "ENX"
    assert asm.feed(b" then END and more") == " then "
    assert asm.stopped and asm.text == "hello ENX then "


def test_assembler_waits_for_whole_utf8_characters() -> None:
    asm = TextAssembler()
    euro = "€".encode()
    assert asm.feed(euro[:1]) == ""
    assert asm.feed(euro[1:]) == "€"
    assert asm.feed(b"x") == "x"


def test_assembler_flush_releases_held_text() -> None:
    asm = TextAssembler(stops=("STOP",))
    assert asm.feed(b"abc ST") == "abc "
    assert asm.flush() == "ST"


def test_greedy_and_logprobs() -> None:
    logits = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    pick = choose(logits, SamplingParams(do_sample=False, logprobs=2), np.random.default_rng(0))
    assert pick.token == 1
    assert pick.logprob == pytest.approx(float(log_softmax(logits)[1]))
    assert [t for t, _ in pick.top] == [1, 2]
    assert np.exp(log_softmax(logits)).sum() == pytest.approx(1.0)


def test_top_k_limits_the_candidates() -> None:
    logits = np.zeros(50, dtype=np.float32)
    logits[[3, 7]] = 1.0
    params = SamplingParams(top_k=2, temperature=1.0)
    rng = np.random.default_rng(0)
    assert {choose(logits, params, rng).token for _ in range(200)} == {3, 7}


def test_top_p_keeps_the_smallest_set_over_p() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = np.random.default_rng(1)
    seen = {choose(logits, SamplingParams(top_p=0.7), rng).token for _ in range(300)}
    assert seen == {0, 1}


def test_penalties() -> None:
    logits = np.array([2.0, -2.0, 1.0], dtype=np.float32)
    apply_penalties(logits, SamplingParams(repetition_penalty=2.0), [0, 1], Counter())
    assert logits.tolist() == [1.0, -4.0, 1.0]
    logits = np.zeros(3, dtype=np.float32)
    params = SamplingParams(frequency_penalty=0.5, presence_penalty=1.0, logit_bias={2: 3.0})
    apply_penalties(logits, params, [], Counter({0: 2}))
    assert logits.tolist() == [-2.0, 0.0, 3.0]


@pytest.mark.parametrize("penalty", [1e-300, 1e-30, 1e300])
def test_an_extreme_repetition_penalty_still_samples_a_token(penalty: float) -> None:
    logits = np.array([3.0, -1.0, 0.5, 2.0], dtype=np.float32)
    params = SamplingParams(repetition_penalty=penalty, temperature=1.0, do_sample=True)
    with np.errstate(all="ignore"):
        apply_penalties(logits, params, [0, 1, 3], Counter())
    assert not np.isnan(logits).any() and np.isfinite(logits.max())
    pick = choose(logits, params, np.random.default_rng(0))
    assert 0 <= pick.token < 4 and not np.isnan(pick.logprob)


def test_plain_template_and_tool_instructions() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render(messages, template=None, special_tokens={}) == "Be brief.\n\nUser: Hi\nAssistant:"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    prompt = render(messages, template=PLAIN_TEMPLATE, special_tokens={}, tools=tools)
    assert prompt.startswith("Be brief.\n\nYou can call functions") and '"name": "f"' in prompt


def test_tool_call_parsing_and_schema() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    calls = parse_calls('{"name": "get_weather", "arguments": {"city": "Paris"}}', tools)
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", '{"city": "Paris"}')]
    tagged = parse_calls('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>', tools)
    assert len(tagged) == 1
    assert parse_calls("It is sunny.", tools) == []
    assert parse_calls('{"name": "other", "arguments": {}}', tools) == []
    schema = forced_schema(tools, None)
    assert schema["properties"]["name"] == {"const": "get_weather"}
