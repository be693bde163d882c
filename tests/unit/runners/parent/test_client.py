"""RunnerClient over a transport that answers from a function: calls, replies, streams, errors; no process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pytest

from hubserve.errors import GenerationFailed, Overloaded, RunnerCrashed, ValidationFailed
from hubserve.protocol import (
    ARRAY_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    EncodeCall,
    GenerateCall,
    GenerateHeader,
    LoadReply,
    array_to_wire,
    dumps,
    error_line,
    error_to_data,
    event_line,
    header_line,
)
from hubserve.runners.parent.client import RunnerClient
from hubserve.runners.parent.transport import Reply, TransportError
from hubserve.types.generation import SamplingParams, TokenEvent

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeStream:
    status: int
    chunks: list[bytes]
    fail_after: int | None = None
    closed: bool = False
    read_lines: int = 0

    async def read(self) -> bytes:
        return b"".join(self.chunks)

    async def lines(self) -> AsyncIterator[bytes]:
        for i, line in enumerate(self.chunks):
            if self.fail_after is not None and i >= self.fail_after:
                raise TransportError("connection reset")
            self.read_lines += 1
            yield line

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeTransport:
    """Answers posts with ``reply(path, body)``, opens ``stream``; records every call it was sent."""

    reply: Callable[[str, dict[str, Any]], Reply] | None = None
    stream: FakeStream | None = None
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False

    async def post(self, path: str, body: bytes) -> Reply:
        self.sent.append((path, orjson.loads(body)))
        if self.reply is None:
            raise TransportError("no runner")
        return self.reply(path, orjson.loads(body))

    async def open(self, path: str, body: bytes) -> FakeStream:
        self.sent.append((path, orjson.loads(body)))
        if self.stream is None:
            raise TransportError("no runner")
        return self.stream

    async def close(self) -> None:
        self.closed = True


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, JSON_MEDIA_TYPE, {}, dumps(value))


def token(i: int, delta: str, finish: Any = None) -> TokenEvent:
    return TokenEvent(i, delta, delta, -0.5, False, finish_reason=finish, prompt_tokens=3, generated_tokens=i)


async def test_load_sends_the_model_and_keeps_the_load_time_less_one_time_work() -> None:
    reply = LoadReply(load_s=2.5, one_time_s=2.0, rss_bytes=10, generation=None)
    transport = FakeTransport(reply=lambda path, body: json_reply(reply))
    client = RunnerClient("org/m", transport)
    assert await client.load() == reply
    assert transport.sent == [("/load", {"model_id": "org/m"})]
    assert client.load_s == pytest.approx(0.5) and client.generation is None


async def test_encode_sends_the_prepared_call_and_reads_a_float32_array_back() -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)

    def answer(path: str, body: dict[str, Any]) -> Reply:
        content, headers = array_to_wire(vectors)
        return Reply(200, ARRAY_MEDIA_TYPE, headers, content)

    transport = FakeTransport(reply=answer)
    call = EncodeCall("feature-extraction", ["a", "b"], {"normalize": True}, single=False)
    result = await RunnerClient("org/m", transport).encode(call)
    np.testing.assert_array_equal(result, vectors)
    assert transport.sent == [
        (
            "/encode",
            {
                "task": "feature-extraction",
                "inputs": ["a", "b"],
                "params": {"normalize": True},
                "single": False,
            },
        )
    ]


async def test_an_error_answer_becomes_the_same_error_class() -> None:
    def answer(path: str, body: dict[str, Any]) -> Reply:
        return json_reply(error_to_data(Overloaded("busy", retry_after_s=3.0)), status=429)

    with pytest.raises(Overloaded) as caught:
        await RunnerClient("org/m", FakeTransport(reply=answer)).encode(EncodeCall("fill-mask", ["x"]))
    assert caught.value.retry_after_s == 3.0 and caught.value.message == "busy"


async def test_a_runner_that_cannot_be_reached_is_runner_crashed() -> None:
    with pytest.raises(RunnerCrashed, match="org/m"):
        await RunnerClient("org/m", FakeTransport()).encode(EncodeCall("fill-mask", ["x"]))


async def test_generate_reads_the_header_then_the_events_and_closes_the_stream() -> None:
    lines = [header_line(GenerateHeader(3, ((1, "a"), (2, "b"), (3, "c")))), event_line(token(1, "x"))]
    stream = FakeStream(200, [*lines, b"\n", event_line(token(2, "y", "length"))])
    transport = FakeTransport(stream=stream)
    params = SamplingParams(max_new_tokens=2, stop=("z",))
    generation = await RunnerClient("org/m", transport).generate(GenerateCall("abc", params, prefill=True))
    assert generation.header.prompt_tokens == 3 and generation.header.prefill[1] == (2, "b")
    assert [e.delta async for e in generation] == ["x", "y"]
    await generation.aclose()
    assert stream.closed
    path, body = transport.sent[0]
    assert path == "/generate" and body["prompt"] == "abc" and body["prefill"] is True
    assert body["params"]["stop"] == ["z"] and body["params"]["max_new_tokens"] == 2


async def test_closing_a_generation_early_closes_its_stream_which_cancels_it_in_the_runner() -> None:
    stream = FakeStream(
        200, [header_line(GenerateHeader(1)), *(event_line(token(i, "t")) for i in range(50))]
    )
    generation = await RunnerClient("org/m", FakeTransport(stream=stream)).generate(
        GenerateCall("p", SamplingParams())
    )
    async for _ in generation:
        break
    await generation.aclose()
    assert stream.closed and stream.read_lines < 50


async def test_an_error_before_the_first_token_raises_at_start_and_closes_the_stream() -> None:
    body = dumps(error_to_data(ValidationFailed("prompt too long", param="inputs")))
    stream = FakeStream(422, [body])
    with pytest.raises(ValidationFailed, match="too long") as caught:
        await RunnerClient("org/m", FakeTransport(stream=stream)).generate(
            GenerateCall("p", SamplingParams())
        )
    assert caught.value.param == "inputs" and stream.closed


async def test_an_error_line_mid_stream_raises_that_error() -> None:
    lines = [
        header_line(GenerateHeader(1)),
        event_line(token(1, "a")),
        error_line(GenerationFailed("unloaded")),
    ]
    generation = await RunnerClient("org/m", FakeTransport(stream=FakeStream(200, lines))).generate(
        GenerateCall("p", SamplingParams())
    )
    with pytest.raises(GenerationFailed, match="unloaded"):
        async for _ in generation:
            pass


async def test_a_connection_lost_mid_stream_is_runner_crashed() -> None:
    lines = [header_line(GenerateHeader(1)), event_line(token(1, "a")), event_line(token(2, "b"))]
    stream = FakeStream(200, lines, fail_after=2)
    generation = await RunnerClient("org/m", FakeTransport(stream=stream)).generate(
        GenerateCall("p", SamplingParams())
    )
    with pytest.raises(RunnerCrashed):
        async for _ in generation:
            pass
    assert stream.closed


async def test_stop_closes_the_transport() -> None:
    transport = FakeTransport()
    await RunnerClient("org/m", transport).stop()
    assert transport.closed
