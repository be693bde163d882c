"""Each dialect in-process: the whole app over ASGI, its runners a fake backend chosen through the registry.

Beside the live-server contract tests, these run the real gateway, access control, scheduler, batcher and
error mapper, with no process and no model: the fake runner records the calls the protocol carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubserve.config import Settings
from hubserve.errors import ValidationFailed
from hubserve.hub.store import HubStore
from hubserve.protocol import (
    EncodeCall,
    GenerateCall,
    GenerateHeader,
    Generation,
    GenerationInfo,
    RunnerOptions,
)
from hubserve.scheduler import factory
from hubserve.scheduler.factory import RunnerBackend
from hubserve.server import create_app
from hubserve.types.generation import TokenEvent
from hubserve.types.names import ModelId

pytestmark = pytest.mark.anyio
CLS, GEN = "test/fake-cls", "test/fake-gen"
WAIT = {"X-Wait-For-Model": "true"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeRunner:
    """One label per input for encoder calls; generation gives the last word back, a letter a token."""

    model: str
    encodes: list[EncodeCall] = field(default_factory=list)
    generates: list[GenerateCall] = field(default_factory=list)
    load_s: float = 0.1
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def generation(self) -> GenerationInfo | None:
        return GenerationInfo(None, {"eos_token": "</s>"}, 64, "fake") if self.model == GEN else None

    async def encode(self, call: EncodeCall) -> Any:
        self.encodes.append(call)
        return [[{"label": f"L{len(text)}", "score": 1.0}] for text in call.inputs]

    async def generate(self, call: GenerateCall) -> Generation:
        self.generates.append(call)
        if "too long" in call.prompt or "too long" in str(call.messages):
            raise ValidationFailed("Input validation error: the prompt is too long", param="inputs")
        prompt = call.prompt if call.messages is None else str(call.messages[-1]["content"])
        word = prompt.split()[-1] if prompt.split() else "x"
        letters = list(word)[: call.params.max_new_tokens]

        async def events() -> AsyncIterator[TokenEvent]:
            for i, letter in enumerate(letters, 1):
                finish = "length" if i == len(letters) else None
                yield TokenEvent(i, letter, letter, -0.1, False, (), finish, 5, i)  # type: ignore[arg-type]

        stream = events()
        return Generation(GenerateHeader(5, ((1, "a"),) if call.prefill else ()), stream, stream.aclose)  # type: ignore[attr-defined]

    async def memory_bytes(self) -> int:
        return 1 << 20

    async def stopped(self) -> int:
        await self.exited.wait()
        return 0

    async def stop(self) -> None:
        self.exited.set()

    def kill(self) -> None:
        self.exited.set()


@dataclass
class FakeBackend:
    runners: dict[str, FakeRunner] = field(default_factory=dict)

    def __call__(self, settings: Settings) -> RunnerBackend:
        async def start(model: str, options: RunnerOptions | None = None) -> FakeRunner:
            runner = self.runners[model] = FakeRunner(model)
            return runner

        async def close() -> None:
            return None

        return RunnerBackend(start, lambda: 0.0, lambda: None, close)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    fake = FakeBackend()
    monkeypatch.setitem(factory.RUNNER_BACKENDS, "fake", fake)
    return fake


@pytest.fixture
async def client(tmp_path: Path, backend: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env({}, home=tmp_path, runner_backend="fake", spare_runners=0)
    store = HubStore(settings.hub_dir)
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\0" * 1024)
    for model, task, fmt in [(CLS, "text-classification", "onnx"), (GEN, "text-generation", "gguf")]:
        store.add(
            ModelId.parse(model),
            [(blob, "model.bin")],
            tasks=[task],
            fmt=fmt,
            source="test",
            show_progress=False,
        )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=WAIT) as c:
            yield c


async def test_hf_sends_the_prepared_call_once_and_answers_in_its_shape(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    r = await client.post(f"/models/{CLS}", json={"inputs": ["ab", "abcd"], "parameters": {"top_k": 1}})
    assert r.status_code == 200, r.text
    assert r.json() == [[{"label": "L2", "score": 1.0}], [{"label": "L4", "score": 1.0}]]
    assert r.headers["x-model-id"] == CLS
    (call,) = backend.runners[CLS].encodes
    assert call == EncodeCall(
        "text-classification",
        ["ab", "abcd"],
        {"top_k": 1, "function_to_apply": None, "truncate": False, "truncation_direction": "right"},
        False,
    )


async def test_hf_refuses_a_bad_body_before_any_runner_is_called(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    r = await client.post(f"/models/{CLS}", json={"inputs": ["ok", ""]})
    assert r.status_code == 422 and r.headers["x-error-type"] == "validation"
    # validation is one of TGI's four types, the only ones an HF body names (PROTOCOL.md, errors)
    assert set(r.json()) == {"error", "error_type"} and r.json()["error_type"] == "validation"
    assert CLS not in backend.runners or not backend.runners[CLS].encodes


async def test_tgi_generate_is_one_runner_call_with_the_prompt_text(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    body = {
        "inputs": "say hello",
        "parameters": {"max_new_tokens": 3, "details": True, "decoder_input_details": True},
    }
    r = await client.post(f"/models/{GEN}/generate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["generated_text"] == "hel"
    assert r.json()["details"]["prefill"] == [{"id": 1, "text": "a", "logprob": None}]
    (call,) = backend.runners[GEN].generates
    assert (call.prompt, call.add_special, call.prefill, call.params.max_new_tokens) == (
        "say hello",
        True,
        True,
        3,
    )


async def test_tgi_errors_carry_tgis_error_type(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/models/{GEN}/generate", json={"inputs": "far too long"})
    assert r.status_code == 422
    assert r.json() == {"error": "Input validation error: the prompt is too long", "error_type": "validation"}


async def test_openai_chat_sends_the_messages_and_streams_the_tokens(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    body = {"model": GEN, "messages": [{"role": "user", "content": "repeat abc"}], "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        text = "".join([line async for line in r.aiter_lines()])
    assert text.endswith("data: [DONE]")
    (call,) = backend.runners[GEN].generates
    # The messages go as they came, for the runner to render with the model's template.
    assert call.messages == [{"role": "user", "content": "repeat abc"}] and call.tools is None
    assert call.params.max_new_tokens == 64  # the runner cuts it to the room


async def test_openai_errors_are_openai_shaped_with_400_for_validation(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={"model": GEN, "messages": "nope"})
    assert r.status_code == 400 and r.headers["x-error-type"] == "validation"
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = await client.post("/v1/chat/completions", content=b"[" * 5000 + b"]" * 5000)
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"


async def test_a_cold_model_answers_503_with_estimated_time_in_both_dialects(
    client: httpx.AsyncClient,
) -> None:
    cold = {"X-Wait-For-Model": "false"}
    r = await client.post(f"/models/{CLS}", json={"inputs": "x"}, headers=cold)
    assert r.status_code == 503 and "estimated_time" in r.json()
    r = await client.post(
        "/v1/chat/completions",
        json={"model": GEN, "messages": [{"role": "user", "content": "x"}]},
        headers=cold,
    )
    assert (
        r.status_code == 503 and "estimated_time" in r.json() and r.json()["error"]["code"] == "model_loading"
    )
