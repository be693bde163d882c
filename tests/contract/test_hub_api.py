"""HfApi, the client's provider lookup and use_huggingface_hub against a live server's Hub API."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from hubserve.hub.store import HubStore
from hubserve.types.names import ModelId
from tests.conftest import GEMMA, MINILM, RAMPART, SMOLLM


def api(server: str) -> HfApi:
    return HfApi(endpoint=server, token=False)


def test_list_models_filters_sorts_and_limits(server: str) -> None:
    every = list(api(server).list_models())
    assert {MINILM, RAMPART, GEMMA, "test/tiny-qa"} <= {m.id for m in every}
    assert all(isinstance(m.created_at, datetime) for m in every)
    assert [m.id for m in api(server).list_models(search="tiny-q")] == ["test/tiny-qa"]
    ner = {m.id for m in api(server).list_models(pipeline_tag="token-classification")}
    assert ner == {"test/tiny-ner", RAMPART}
    assert {m.id for m in api(server).list_models(filter="token-classification")} >= ner
    assert {m.id for m in api(server).list_models(author="test")} == {
        m.id for m in every if m.id.startswith("test/")
    }
    by_id = [m.id for m in api(server).list_models(sort="id", limit=3)]
    assert len(by_id) == 3 and by_id == sorted(by_id, key=str.lower, reverse=True)
    assert len(list(api(server).list_models(limit=2))) == 2


def test_model_info_has_the_hubs_fields(server: str, hub: HubStore) -> None:
    info = api(server).model_info(MINILM)
    manifest = hub.get(ModelId.parse(MINILM))
    assert (info.id, info.sha, info.pipeline_tag) == (MINILM, manifest.revision, "sentence-similarity")
    assert {"feature-extraction", "sentence-similarity"} <= set(info.tags or [])
    assert isinstance(info.created_at, datetime) and info.private is False
    assert {s.rfilename for s in info.siblings or []} == {f.path for f in manifest.files}
    mapping = api(server).model_info(MINILM, expand=["inferenceProviderMapping"]).inference_provider_mapping
    assert mapping is not None
    assert [(m.provider, m.status, m.provider_id) for m in mapping] == [("hf-inference", "live", MINILM)]
    only = httpx.get(f"{server}/api/models/{MINILM}", params={"expand": ["pipeline_tag", "sha"]}).json()
    assert set(only) == {"_id", "id", "pipeline_tag", "sha"}
    bad = httpx.get(f"{server}/api/models/{MINILM}", params={"expand": "nonsense"})
    assert (bad.status_code, bad.headers["x-error-type"]) == (400, "unknown_option")
    assert "inferenceProviderMapping" in bad.json()["error"]
    assert api(server).model_info(MINILM, revision=manifest.revision).sha == manifest.revision


def test_missing_models_and_revisions_raise_the_hubs_errors(server: str) -> None:
    with pytest.raises(RepositoryNotFoundError):
        api(server).model_info("test/no-such-model")
    with pytest.raises(RepositoryNotFoundError):
        api(server).list_repo_files("test/no-such-model")
    with pytest.raises(RevisionNotFoundError):
        api(server).model_info(MINILM, revision="v9")


def test_list_repo_files_and_tree(server: str, hub: HubStore) -> None:
    manifest = hub.get(ModelId.parse(MINILM))
    assert sorted(api(server).list_repo_files(MINILM)) == sorted(f.path for f in manifest.files)
    top = httpx.get(f"{server}/api/models/{MINILM}/tree/main").json()
    assert {e["path"] for e in top} == {f.path.split("/")[0] for f in manifest.files}
    folders = {e["path"] for e in top if e["type"] == "directory"}
    assert folders == {f.path.split("/")[0] for f in manifest.files if "/" in f.path}
    inner = next(iter(folders))
    below = httpx.get(f"{server}/api/models/{MINILM}/tree/main/{inner}").json()
    assert below and all(e["path"].startswith(f"{inner}/") for e in below)


def test_tasks_list_local_models_that_the_client_accepts(server: str) -> None:
    tasks = httpx.get(f"{server}/api/tasks").json()
    assert MINILM in tasks["feature-extraction"]["widgetModels"]
    assert RAMPART in tasks["token-classification"]["widgetModels"]
    assert {GEMMA, SMOLLM} <= set(tasks["text-generation"]["widgetModels"])
    assert set(tasks["conversational"]["widgetModels"]) == set(tasks["text-generation"]["widgetModels"])
    assert "test/tiny-cls" not in tasks["feature-extraction"]["widgetModels"]
    assert tasks["feature-extraction"]["supported"] and tasks["text-to-image"]["supported"]
    assert tasks["image-to-video"] == {
        "id": "image-to-video",
        "label": "Image to video",
        "widgetModels": [],
        "supported": False,
    }


def test_info_lists_the_tasks_served_and_not_and_a_call_for_another_names_them(server: str) -> None:
    tasks = httpx.get(f"{server}/info").json()["tasks"]
    assert {"automatic-speech-recognition", "text-to-image", "feature-extraction"} <= set(tasks["supported"])
    assert "image-to-video" in tasks["not_supported"] and not set(tasks["supported"]) & set(
        tasks["not_supported"]
    )
    answer = httpx.post(f"{server}/models/{MINILM}/pipeline/image-to-video", json={"inputs": "x"})
    assert answer.status_code == 400 and answer.headers["x-error-type"] == "task_not_supported"
    assert "does not serve task 'image-to-video'" in answer.json()["error"] and "text-to-image" in answer.text


# Run in a child: the helper changes huggingface_hub's module state for its whole process.
HELPER_AFTER_IMPORT = """
import os, sys
from huggingface_hub import InferenceClient
import hubserve
hubserve.use_huggingface_hub(sys.argv[1])
client = InferenceClient(token=os.environ["HF_TOKEN"])
minilm = "sentence-transformers/all-MiniLM-L6-v2"
print(client.feature_extraction("hello", model=minilm).shape)
print(client.sentence_similarity("a cat", ["a kitten", "a car"], model=minilm))
print(client.token_classification("My name is John Smith", model="arcjet/sensitive-info-rampart")[0]
      .entity_group)
print(len(client.text_generation("The sky is", model="google/gemma-3-270m", max_new_tokens=3)) > 0)
hi = [{"role": "user", "content": "Hi"}]
chat = client.chat_completion(hi, model="HuggingFaceTB/SmolLM2-135M-Instruct", max_tokens=3)
print(chat.model, chat.choices[0].finish_reason)
print(InferenceClient().feature_extraction("no model named").shape)
"""
HELPER_BEFORE_IMPORT = """
import os, sys
import hubserve
hubserve.use_huggingface_hub(sys.argv[1])
from huggingface_hub import InferenceClient, model_info
print(model_info("google/gemma-3-270m").pipeline_tag)
client = InferenceClient(token=os.environ["HF_TOKEN"])
print(client.text_classification("hi", model="test/tiny-cls")[0].label != "")
"""


def _child(code: str, server: str, token: str, **env: str) -> list[str]:
    full_env = {**os.environ, "HF_TOKEN": token, **env}
    done = subprocess.run(
        [sys.executable, "-c", code, server],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_helper_points_an_imported_huggingface_hub_at_the_server(
    server: str, admin_headers: dict[str, str]
) -> None:
    token = admin_headers["Authorization"].split()[1]
    out = _child(HELPER_AFTER_IMPORT, server, token)
    assert out[0] == "(1, 384)"
    assert out[2] in {"GIVEN_NAME", "SURNAME"} and out[3] == "True"
    assert out[4] == f"{SMOLLM} length"
    assert out[5] in {"(1, 384)", "(1, 32)"}  # the local default for feature-extraction


def test_helper_before_import_and_the_environment_path(server: str, admin_headers: dict[str, str]) -> None:
    token = admin_headers["Authorization"].split()[1]
    assert _child(HELPER_BEFORE_IMPORT, server, token) == ["text-generation", "True"]
    via_env = "from huggingface_hub import HfApi; print(HfApi().model_info('google/gemma-3-270m').sha)"
    assert _child(via_env, server, token, HF_ENDPOINT=server)[0]
