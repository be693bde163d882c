"""Summarization, translation and text2text-generation through huggingface_hub, on a tiny random BART."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient

from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import add_admin, import_tiny, running_server
from tests.tiny_media import build_seq2seq

BART = "test/tiny-bart"  # its own task: summarization (the first its head implies)
TRANSLATOR = "test/tiny-translator"  # the same weights imported for translation
HOLD = {"X-Wait-For-Model": "true"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("seq2seq")
    store = HubStore(home / "hub")
    folder = build_seq2seq(home / "bart")
    tasks = supported_tasks()
    import_folder(store, folder, ModelId.parse(BART), supported_tasks=tasks, show_progress=False)
    import_folder(
        store,
        folder,
        ModelId.parse(TRANSLATOR),
        supported_tasks=tasks,
        task="translation",
        show_progress=False,
    )
    (home / "root.token").write_text(add_admin(home, "root"))
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(home) as (url, _):
        yield url


def client(server: str, model: str = BART) -> InferenceClient:
    return InferenceClient(base_url=f"{server}/models/{model}", headers=HOLD, timeout=120)


def test_summarization_and_translation_answer_in_hf_shapes(server: str) -> None:
    summary = client(server).summarization(
        "the weather is good today in paris", generate_parameters={"max_new_tokens": 5}
    )
    assert isinstance(summary.summary_text, str) and summary.summary_text
    translated = client(server, TRANSLATOR).translation(
        "hello world", generate_parameters={"max_new_tokens": 4}
    )
    assert isinstance(translated.translation_text, str) and translated.translation_text
    # One URL for every task (huggingface_hub's base_url): languages make a summarizer translate.
    languages = client(server).translation("hello world", src_lang="en", tgt_lang="fr")
    assert isinstance(languages.translation_text, str) and languages.translation_text
    raw = httpx.post(
        f"{server}/models/{BART}/pipeline/text2text-generation",
        json={
            "inputs": ["one", "two", "three"],
            "parameters": {"generate_parameters": {"max_new_tokens": 4}},
        },
        headers=HOLD,
        timeout=60,
    )
    assert raw.status_code == 200, raw.text
    assert [sorted(row) for row in raw.json()] == [["generated_text"]] * 3


def test_the_same_input_gives_the_same_greedy_output_and_max_new_tokens_bounds_it(server: str) -> None:
    body = {"inputs": "the capital of france", "parameters": {"generate_parameters": {"max_new_tokens": 3}}}
    first = httpx.post(
        f"{server}/models/{BART}", json=body, headers={**HOLD, "X-Use-Cache": "false"}, timeout=60
    ).json()
    again = httpx.post(
        f"{server}/models/{BART}", json=body, headers={**HOLD, "X-Use-Cache": "false"}, timeout=60
    ).json()
    assert first == again
    longer = {"inputs": body["inputs"], "parameters": {"generate_parameters": {"max_new_tokens": 8}}}
    more = httpx.post(f"{server}/models/{BART}", json=longer, headers=HOLD, timeout=60).json()
    assert len(more[0]["summary_text"]) >= len(first[0]["summary_text"])


@pytest.mark.parametrize(
    ("body", "status", "error_type", "names"),
    [
        ({"inputs": "the " * 200}, 413, "input_too_long", "longest_first"),
        ({"inputs": ""}, 422, "validation", "empty"),
        (
            {"inputs": "hi", "parameters": {"generate_parameters": {"max_new_tokens": 100000}}},
            422,
            "validation",
            "1024",
        ),
        (
            {"inputs": "hi", "parameters": {"generate_parameters": {"num_beams": 0}}},
            422,
            "validation",
            "num_beams",
        ),
        ({"inputs": "hi", "parameters": {"truncation": "sideways"}}, 422, "validation", "truncation"),
        ({"inputs": "hi", "parameters": {"tgt_lang": 7}}, 422, "validation", "tgt_lang"),
        ({"inputs": "hi", "parameters": {"voice": "alloy"}}, 422, "validation", "voice"),
    ],
)
def test_bad_summarization_requests_get_a_clear_error(
    server: str, body: dict[str, Any], status: int, error_type: str, names: str
) -> None:
    answer = httpx.post(f"{server}/models/{BART}", json=body, headers=HOLD, timeout=60)
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert names in answer.json()["error"]


def test_truncation_lets_a_long_input_through(server: str) -> None:
    body = {"inputs": "the " * 200, "parameters": {"truncation": "longest_first"}}
    answer = httpx.post(f"{server}/models/{BART}", json=body, headers=HOLD, timeout=60)
    assert answer.status_code == 200 and answer.json()[0]["summary_text"]


def test_the_model_lists_its_three_tasks(server: str, tmp_path: Path) -> None:
    info = httpx.get(f"{server}/api/models/{BART}").json()
    assert {"summarization", "translation", "text2text-generation"} <= set(info.get("tasks", []) or [])


@pytest.fixture(scope="module")
def chat_home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    home = tmp_path_factory.mktemp("chat-text-tasks")
    import_tiny(HubStore(home / "hub"), tiny_dirs["llama"], "test/tiny-chat")
    return home


def test_a_chat_model_serves_text_tasks_only_when_turned_on_and_says_so(chat_home: Path) -> None:
    url_of = "/models/test/tiny-chat/pipeline/summarization"
    body = {
        "inputs": ["the weather is good", "pizza"],
        "parameters": {"generate_parameters": {"max_new_tokens": 4}},
    }
    with running_server(chat_home) as (url, _):
        off = httpx.post(url + url_of, json=body, headers=HOLD, timeout=60)
        assert off.status_code == 400 and off.headers["x-error-type"] == "task_not_supported"
        assert "HUBSERVE_CHAT_TEXT_TASKS" in off.json()["error"]
    with running_server(chat_home, HUBSERVE_CHAT_TEXT_TASKS="true") as (url, _):
        on = httpx.post(url + url_of, json=body, headers=HOLD, timeout=60)
        assert on.status_code == 200, on.text
        assert on.headers["x-served-as"] == "chat-prompt" and on.headers["x-task"] == "summarization"
        assert [sorted(row) for row in on.json()] == [["summary_text"], ["summary_text"]]
        # huggingface_hub's translation() on the model's own URL: its languages ask for the task.
        hf = InferenceClient(base_url=f"{url}/models/test/tiny-chat", headers=HOLD, timeout=60)
        translated = hf.translation("hello", src_lang="English", tgt_lang="French")
        assert isinstance(translated.translation_text, str)


def test_concurrent_requests_batch_into_fewer_runner_calls_with_the_same_answers(
    server: str, home: Path
) -> None:
    admin = {"Authorization": f"Bearer {(home / 'root.token').read_text()}"}
    texts = [f"the weather in city number {i} is good" for i in range(8)]
    fresh = {**HOLD, "X-Use-Cache": "false"}

    def summary(text: str) -> Any:
        body = {"inputs": text, "parameters": {"generate_parameters": {"max_new_tokens": 4}}}
        return httpx.post(f"{server}/models/{BART}", json=body, headers=fresh, timeout=60).json()

    def runner_calls() -> int:
        calls: int = httpx.get(f"{server}/api/ps", headers=admin).json()["encoder_calls"]
        return calls

    alone = [summary(t) for t in texts]
    before = runner_calls()
    with ThreadPoolExecutor(len(texts)) as pool:
        together = list(pool.map(summary, texts))
    assert together == alone  # padded into one generate(), each text's answer is the one it gets alone
    assert runner_calls() - before < len(texts)
