from __future__ import annotations

import asyncio
import json
import threading

import anyio
import pytest

from hubserve.errors import ValidationFailed
from hubserve.runtimes.generation.engine import GenerationEngine
from hubserve.runtimes.generation.loader import LazyGrammars
from hubserve.types.generation import Constraint, SamplingParams
from tests.unit.runtimes.generation.fakes import CountingBackend

pytestmark = pytest.mark.anyio
GREEDY = SamplingParams(max_new_tokens=50, do_sample=False)


async def _text(
    engine: GenerationEngine, prompt: str, params: SamplingParams = GREEDY
) -> tuple[str, str | None]:
    out = ""
    reason = None
    async for event in engine.stream(list(prompt.encode()), params):
        out += event.delta
        reason = event.finish_reason
    return out, reason


@pytest.fixture
def backend() -> CountingBackend:
    return CountingBackend(max_slots=4)


@pytest.fixture
def engine(backend: CountingBackend):  # type: ignore[no-untyped-def]
    eng = GenerationEngine(backend, matcher_factory=LazyGrammars(backend).matcher)
    yield eng
    eng.close()


async def test_greedy_runs_to_eos(engine: GenerationEngine) -> None:
    assert await _text(engine, "u") == ("vwxyz", "eos_token")


async def test_length_and_stop_sequence(engine: GenerationEngine) -> None:
    assert await _text(engine, "a", SamplingParams(max_new_tokens=3, do_sample=False)) == ("bcd", "length")
    stopped = SamplingParams(max_new_tokens=30, do_sample=False, stop=("fg",))
    assert await _text(engine, "a", stopped) == ("bcde", "stop_sequence")


async def test_concurrent_streams_are_batched_and_equal_to_single(
    engine: GenerationEngine, backend: CountingBackend
) -> None:
    single = await _text(engine, "a")
    assert await anyio.to_thread.run_sync(backend.freed_one.wait, 10)  # its slot is back: the engine is idle
    backend.batch_sizes.clear()
    backend.steps = threading.Semaphore(0)  # no decode until all four are in
    streams = [asyncio.ensure_future(_text(engine, p)) for p in ["a", "c", "e", "a"]]
    for _ in range(3):  # each task runs to its first wait, which is after it has queued (a yield, no clock)
        await asyncio.sleep(0)
    assert sum(engine.load) == 4
    backend.steps.release(10_000)
    results = await asyncio.gather(*streams)
    assert results[0] == results[3] == single
    assert results[1] == ("defghijklmnopqrstuvwxyz", "eos_token")
    assert max(backend.batch_sizes) == 4, "all four sequences must decode in one batch"


async def test_cancelled_stream_frees_its_slot(engine: GenerationEngine, backend: CountingBackend) -> None:
    backend.steps = threading.Semaphore(3)  # the engine may run ahead of the reader by three steps
    params = SamplingParams(max_new_tokens=10_000, do_sample=False, ignore_eos=True)
    stream = engine.stream(list(b"a"), params)
    await anext(stream)
    await anext(stream)
    await stream.aclose()
    backend.steps.release()  # the step it may be waiting for; the one after sees the cancel
    assert await anyio.to_thread.run_sync(backend.freed_one.wait, 10)
    assert len(backend.batch_sizes) <= 4, "a cancelled sequence kept decoding"
    assert engine.load == (0, 0)
    assert backend.live == set()
    backend.steps = None
    assert await _text(engine, "x") == ("yz", "eos_token")


async def test_prompt_too_long_is_a_validation_error(engine: GenerationEngine) -> None:
    with pytest.raises(ValidationFailed, match="at most 63"):
        await _text(engine, "a" * 64)
    with pytest.raises(ValidationFailed, match="empty"):
        await _text(engine, "")


async def test_max_new_tokens_is_capped_by_the_context(engine: GenerationEngine) -> None:
    params = SamplingParams(max_new_tokens=1000, do_sample=False, ignore_eos=True)
    text, reason = await _text(engine, "a" * 60, params)
    assert reason == "length" and len(text.encode()) <= 4


async def test_seeded_sampling_is_reproducible(engine: GenerationEngine) -> None:
    params = SamplingParams(max_new_tokens=20, temperature=5.0, seed=7, ignore_eos=True)
    first = await _text(engine, "a", params)
    assert first == await _text(engine, "a", params)
    assert first != await _text(engine, "a", SamplingParams(max_new_tokens=20, temperature=5.0, seed=8))


async def test_json_schema_constraint_makes_valid_json(engine: GenerationEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "tag": {"enum": ["x", "y"]}},
        "required": ["ok", "tag"],
        "additionalProperties": False,
    }
    params = SamplingParams(max_new_tokens=40, do_sample=False, constraint=Constraint("json_schema", schema))
    text, reason = await _text(engine, "a", params)
    assert reason == "eos_token"
    data = json.loads(text)
    assert isinstance(data["ok"], bool) and data["tag"] in {"x", "y"}


async def test_regex_constraint(engine: GenerationEngine) -> None:
    params = SamplingParams(max_new_tokens=40, do_sample=False, constraint=Constraint("regex", "[0-9]{3}-ok"))
    text, _ = await _text(engine, "a", params)
    assert len(text) == 6 and text[:3].isdigit() and text.endswith("-ok")


async def test_bad_constraint_is_a_validation_error(engine: GenerationEngine) -> None:
    with pytest.raises(ValidationFailed, match="regex"):
        await _text(engine, "a", SamplingParams(constraint=Constraint("regex", "([unclosed")))
