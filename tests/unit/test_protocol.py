from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from hubserve import errors
from hubserve.protocol import (
    SHAPE_HEADER,
    EncodeCall,
    GenerateCall,
    GenerateHeader,
    GenerationInfo,
    LoadReply,
    RunnerConfig,
    array_from_wire,
    array_to_wire,
    dumps,
    encode_call,
    error_line,
    event_line,
    generate_call,
    header_line,
    load_reply,
    stream_item,
)
from hubserve.types.generation import Constraint, SamplingParams, TokenEvent, TopLogprob


@pytest.mark.parametrize("shape", [(3, 5), (1, 384), (0, 8), (4,)])
def test_arrays_cross_as_float32_bytes(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(0).standard_normal(shape)  # float64 in: float32 out
    content, headers = array_to_wire(array)
    assert len(content) == 4 * array.size
    back = array_from_wire(content, headers[SHAPE_HEADER])
    assert back.shape == shape and back.dtype == np.float32
    np.testing.assert_array_equal(back, array.astype(np.float32))


def test_a_row_of_the_batch_writes_the_same_json_numbers_as_the_float32_values() -> None:
    array = np.asarray([[0.1, -2.5e-8, 3.0]], dtype=np.float32)
    content, headers = array_to_wire(array)
    row = array_from_wire(content, headers[SHAPE_HEADER])[0:1].copy()
    parsed = orjson.loads(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))
    assert np.asarray(parsed, dtype=np.float32).tobytes() == array.tobytes()


FULL = SamplingParams(
    max_new_tokens=7,
    temperature=0.7,
    top_p=0.9,
    top_k=40,
    repetition_penalty=1.1,
    seed=3,
    stop=("\n\n", "END"),
    logprobs=2,
    logit_bias={1: -100.0, 106: -100.0, 7: 2.5},  # token ids as keys: JSON has only string keys
    constraint=Constraint(kind="json_schema", value='{"type": "object"}'),
    ignore_eos=True,
)


@pytest.mark.parametrize("params", [SamplingParams(), FULL])
def test_a_generate_call_crosses_as_it_was(params: SamplingParams) -> None:
    # logit_bias's int keys once made dumps raise, and every OpenAI request with logit_bias a 500
    call = GenerateCall("Once upon a time", params, add_special=False, prefill=True)
    assert generate_call(orjson.loads(dumps(call))) == call


def test_an_encode_call_and_a_load_reply_cross_as_they_were() -> None:
    call = EncodeCall("zero-shot-classification", ["a text"], {"candidate_labels": ["x", "y"]}, single=True)
    assert encode_call(orjson.loads(dumps(call))) == call
    reply = LoadReply(1.5, 0.25, 1 << 20, GenerationInfo("{{ x }}", {"eos_token": "</s>"}, 2048, "llama.cpp"))
    assert load_reply(orjson.loads(dumps(reply))) == reply


def test_stream_lines_cross_as_they_were_and_an_error_line_raises_its_class() -> None:
    header = GenerateHeader(5, ((1, "<s>"), (42, "Hi")))
    event = TokenEvent(42, "Hi", "Hi", -0.5, False, (TopLogprob(42, "Hi", -0.5),), "length", 5, 1, 3)
    assert stream_item(header_line(header)) == header
    assert stream_item(event_line(event)) == event
    assert stream_item(b"\n") is None
    with pytest.raises(errors.Overloaded) as caught:
        stream_item(error_line(errors.Overloaded("busy", retry_after_s=2.0)))
    assert caught.value.retry_after_s == 2.0


def test_a_runner_config_crosses_on_the_command_line(tmp_path: Path) -> None:
    config = RunnerConfig(tmp_path / "hub", threads=3, runtime="onnx", gen_slots=2, log_level="debug")
    assert RunnerConfig.from_json(config.to_json()) == config
