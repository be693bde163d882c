"""ModelHost: tokenizing ahead of the model must not change any answer, whatever runs beside it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubserve.errors import ModelLoadFailed
from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.protocol import EncodeCall, GenerateCall, RunnerConfig
from hubserve.runners.child.model_host import ModelHost
from hubserve.tasks.base import CallContext, Envelope
from hubserve.tasks.chat_template import render
from hubserve.tasks.registry import TASKS, supported_tasks
from hubserve.types.generation import SamplingParams
from hubserve.types.names import ModelId

pytestmark = pytest.mark.anyio
MODEL = "test/tiny-embed"
TEXTS = [("pizza " * (i % 9 + 1)) + f"number {i}" for i in range(40)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_concurrent_calls_of_two_tasks_get_the_answers_they_get_alone(hub: HubStore) -> None:
    host = ModelHost(RunnerConfig(hub_dir=Path(hub.root)), hub)
    await host.load(ModelId.parse(MODEL))
    ctx = CallContext()
    embed_calls = [
        {"inputs": TEXTS[i : i + 10], "truncate": True, "truncation_direction": side}
        for i, side in zip(range(0, 40, 10), ["left", "right", "left", "right"], strict=True)
    ]
    similarity = {"inputs": {"source_sentence": TEXTS[0], "sentences": TEXTS[1:6]}}

    async def one(task: str, envelope: dict[str, Any]) -> Any:
        prepared = TASKS[task].prepare(Envelope.model_validate(envelope), ctx)
        return await host.encode(TASKS[task].to_call(prepared))

    alone = [await one("feature-extraction", e) for e in embed_calls] + [
        await one("sentence-similarity", similarity)
    ]
    together = await asyncio.gather(
        *(one("feature-extraction", e) for e in embed_calls), one("sentence-similarity", similarity)
    )
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    host.close()


async def test_a_load_with_threads_builds_its_model_on_that_many(hub: HubStore) -> None:
    host = ModelHost(RunnerConfig(hub_dir=Path(hub.root), threads=2), hub)
    await host.load(ModelId.parse(MODEL), threads=1)  # an x1 endpoint's replica
    (encoder,) = host.encoders.values()
    assert encoder.spec.threads == 1
    host.close()


async def test_a_prepared_call_is_trusted_so_a_merged_batch_past_one_requests_limit_runs(
    hub: HubStore,
) -> None:
    # The gateway validated each request (at most max_batch_inputs inputs); the batch it merged from two
    # of them is larger, and the runner must run it rather than refuse it as it would refuse a request.
    host = ModelHost(RunnerConfig(hub_dir=Path(hub.root)), hub)
    await host.load(ModelId.parse(MODEL))
    limit = CallContext().max_batch_inputs
    merged = EncodeCall("feature-extraction", [f"text {i}" for i in range(limit + 44)], {}, single=False)
    vectors = await host.encode(merged)
    assert np.asarray(vectors).shape[0] == limit + 44
    host.close()


async def test_a_chat_is_rendered_in_the_runner_as_the_template_says(hub: HubStore) -> None:
    host = ModelHost(RunnerConfig(hub_dir=Path(hub.root)), hub)
    await host.load(ModelId.parse("test/tiny-llama"))
    generator = host.require_generator()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]
    greedy = SamplingParams(max_new_tokens=6, do_sample=False)

    async def tokens(call: GenerateCall) -> tuple[int, list[int]]:
        header, events = await host.generate(call)
        return header.prompt_tokens, [e.id async for e in events]

    chat = await tokens(GenerateCall("", greedy, messages=messages))
    text = render(messages, template=generator.template, special_tokens=generator.special_tokens)
    bos = generator.special_tokens.get("bos_token", "")
    add_special = not (bos and text.startswith(bos))
    # The same sequence as the gateway rendering it and sending the text, as it did before.
    assert chat == await tokens(GenerateCall(text, greedy, add_special=add_special))
    assert chat[0] == len(generator.tokenize(text, add_special=add_special))
    host.close()


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
async def test_weights_that_fail_to_load_are_model_load_failed_with_the_runtime_s_message(
    tmp_path: Path, tiny_dirs: dict[str, Path], runtime: str
) -> None:
    store = HubStore(tmp_path / "hub")
    model = ModelId.parse("t/broken")
    import_folder(store, tiny_dirs["embed"], model, supported_tasks=supported_tasks(), show_progress=False)
    weights = store.files_dir(model) / "model.safetensors"
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])  # a header length past any file: corrupt
    host = ModelHost(RunnerConfig(hub_dir=store.root, runtime=runtime), store)
    with pytest.raises(ModelLoadFailed, match=r"Could not load t/broken: .*header") as caught:
        await host.load(model)
    assert caught.value.error_type == "model_load_failed"
    assert host.model_id is None  # nothing is served after a failed load
    host.close()
