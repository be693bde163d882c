"""RunnerClient over a transport that answers from a function: calls, replies, streams, errors; no process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pytest

from hubserve.errors import (
    GenerationFailed,
    ModelLoadFailed,
    Overloaded,
    RunnerCrashed,
    RunnerTimeout,
    ValidationFailed,
)
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
from hubserve.runners.parent.client import Deadlines, RunnerClient
from hubserve.runners.parent.transport import Reply, SocketTransport, TransportError
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
    stall_after: int | None = None  # lines sent before the runner goes silent (a stopped process)
    closed: bool = False
    read_lines: int = 0

    async def read(self) -> bytes:
        return b"".join(self.chunks)

    async def lines(self) -> AsyncIterator[bytes]:
        for i, line in enumerate(self.chunks):
            if self.fail_after is not None and i >= self.fail_after:
                raise TransportError("connection reset")
            if self.stall_after is not None and i >= self.stall_after:
                await asyncio.Event().wait()
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
    silent: bool = False  # the runner takes calls and never answers
    unreachable: bool = False  # nothing listens on the socket: the call is never sent

    async def get(self, path: str, timeout_s: float) -> Reply:
        if self.silent:
            async with asyncio.timeout(timeout_s):
                await asyncio.Event().wait()
        return json_reply({"status": "ok"})

    async def post(self, path: str, body: bytes) -> Reply:
        if self.unreachable:
            raise TransportError("ClientConnectorError", unsent=True)
        self.sent.append((path, orjson.loads(body)))
        if self.silent:
            await asyncio.Event().wait()
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
    assert await client.load(threads=1) == reply
    assert transport.sent == [
        ("/load", {"model_id": "org/m", "threads": None}),
        ("/load", {"model_id": "org/m", "threads": 1}),
    ]
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
                "call_id": "",
            },
        )
    ]


async def test_a_named_call_cancelled_midway_is_cancelled_in_the_runner_too() -> None:
    started = asyncio.Event()

    class SlowEncode(FakeTransport):
        async def post(self, path: str, body: bytes) -> Reply:
            if path == "/encode":
                self.sent.append((path, orjson.loads(body)))
                started.set()
                await asyncio.Event().wait()
            return await super().post(path, body)

    transport = SlowEncode(reply=lambda path, body: json_reply({"cancelled": True}))
    call = EncodeCall("text-to-image", "a cat", {}, single=True, call_id="c1")
    running = asyncio.create_task(RunnerClient("org/m", transport).encode(call))
    await started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert transport.sent[-1] == ("/cancel", {"call_id": "c1"})


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


class FakeProcess:
    pid = 4242
    killed = False

    def kill(self) -> None:
        self.killed = True


def deadline_client(transport: FakeTransport) -> tuple[RunnerClient, FakeProcess]:
    process = FakeProcess()
    deadlines = Deadlines(load_s=0.05, call_s=0.05, health_s=0.05)
    return RunnerClient("org/m", transport, process, deadlines), process  # type: ignore[arg-type]


async def test_an_encode_past_its_deadline_kills_the_runner_and_is_runner_timeout() -> None:
    client, process = deadline_client(FakeTransport(reply=lambda p, b: json_reply([]), silent=True))
    with pytest.raises(RunnerTimeout, match="org/m") as caught:
        await client.encode(EncodeCall("fill-mask", ["x"]))
    assert process.killed and caught.value.status_code == 504


async def test_a_load_past_its_deadline_is_model_load_failed() -> None:
    client, process = deadline_client(FakeTransport(reply=lambda p, b: json_reply([]), silent=True))
    with pytest.raises(ModelLoadFailed, match="load"):
        await client.load()
    assert process.killed


async def test_a_stream_that_goes_silent_mid_generation_is_runner_timeout() -> None:
    lines = [header_line(GenerateHeader(1)), event_line(token(1, "a")), event_line(token(2, "b"))]
    stream = FakeStream(200, lines, stall_after=2)
    client, process = deadline_client(FakeTransport(stream=stream))
    generation = await client.generate(GenerateCall("p", SamplingParams()))
    events = aiter(generation)
    assert (await anext(events)).delta == "a"
    with pytest.raises(RunnerTimeout, match="next token"):
        await anext(events)
    assert process.killed and stream.closed


async def test_a_stream_that_never_starts_is_runner_timeout() -> None:
    client, process = deadline_client(FakeTransport(stream=FakeStream(200, [b"x"], stall_after=0)))
    with pytest.raises(RunnerTimeout, match="first token"):
        await client.generate(GenerateCall("p", SamplingParams()))
    assert process.killed


async def test_a_call_that_could_not_connect_is_marked_unsent() -> None:
    with pytest.raises(RunnerCrashed) as caught:
        await RunnerClient("org/m", FakeTransport(unreachable=True)).encode(EncodeCall("fill-mask", ["x"]))
    assert caught.value.unsent
    with pytest.raises(RunnerCrashed) as mid_call:
        await RunnerClient("org/m", FakeTransport()).encode(EncodeCall("fill-mask", ["x"]))
    assert not mid_call.value.unsent  # reached the socket, then lost: it may have run


async def test_health_is_false_for_a_silent_runner_and_true_for_one_that_answers() -> None:
    silent, _ = deadline_client(FakeTransport(silent=True))
    answering, _ = deadline_client(FakeTransport())
    assert not await silent.healthy()
    assert await answering.healthy()


async def test_an_answer_that_is_not_the_protocol_kills_the_runner_and_is_runner_crashed() -> None:
    broken = Reply(500, "text/plain", {}, b"Internal Server Error")
    client, process = deadline_client(FakeTransport(reply=lambda p, b: broken))
    with pytest.raises(RunnerCrashed, match="HTTP 500: Internal Server Error"):
        await client.encode(EncodeCall("fill-mask", ["x"]))
    assert process.killed


async def test_a_call_after_the_transport_was_closed_is_unsent(tmp_path) -> None:
    # A stopped runner's connections are closed while calls may still be on their way to it (the batcher
    # sends a batch formed just before): such a call never reached the runner, so it may go to the next.
    transport = SocketTransport(tmp_path / "runner.sock")
    await transport.close()
    for call in (
        transport.post("/encode", b"{}"),
        transport.get("/health", 1.0),
        transport.open("/generate", b"{}"),
    ):
        with pytest.raises(TransportError) as error:
            await call
        assert error.value.unsent


class Stepping(FakeTransport):
    """A pipeline call that answers after ``answer_after`` looks at its progress; ``moves`` steps in all."""

    def __init__(self, moves: int, answer_after: int) -> None:
        super().__init__()
        self.looks = 0
        self.moves = moves
        self.answer_after = answer_after
        self.answered = asyncio.Event()

    async def get(self, path: str, timeout_s: float) -> Reply:
        self.looks += 1
        if self.looks >= self.answer_after:
            self.answered.set()
        step = min(self.looks, self.moves)
        return json_reply({"progress": {"task": "text-to-image", "step": step, "steps": 99}})

    async def post(self, path: str, body: bytes) -> Reply:
        self.sent.append((path, orjson.loads(body)))
        if path == "/encode":
            await self.answered.wait()
        return json_reply({"image": "done"})


async def test_a_pipeline_call_runs_past_the_deadline_while_its_steps_move() -> None:
    transport = Stepping(moves=10, answer_after=4)
    client = RunnerClient("org/m", transport, deadlines=Deadlines(call_s=0.05))
    call = EncodeCall("text-to-image", "a cat", {}, single=True, call_id="c2")
    assert await client.encode(call) == {"image": "done"}  # 4 periods of 0.05 s, each with a new step
    assert transport.looks >= 3


async def test_a_pipeline_call_whose_steps_stop_times_out() -> None:
    transport = Stepping(moves=2, answer_after=1000)
    client = RunnerClient("org/m", transport, deadlines=Deadlines(call_s=0.05))
    call = EncodeCall("text-to-image", "a cat", {}, single=True, call_id="c3")
    with pytest.raises(RunnerTimeout):
        await client.encode(call)
    assert transport.looks == 3  # steps 1, 2, then 2 again: stuck
