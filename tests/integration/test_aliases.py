"""Aliases and bare names on every route and dialect, with the CLI that makes them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi, InferenceClient
from openai import OpenAI

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.errors import ModelExists
from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import import_tiny, running_server

EMBED, LLAMA, SECRET = "test/tiny-embed", "test/tiny-llama", "owner/secret-cls"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubserve.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """A hub with a private model, a name two namespaces share, and aliases made with the CLI."""
    home = tmp_path_factory.mktemp("alias-home")
    store = HubStore(home / "hub")
    models = [(EMBED, "embed"), ("test/tiny-cls", "cls"), ("other/tiny-cls", "cls"), (LLAMA, "llama")]
    models += [(SECRET, "cls"), ("test/doomed", "cls")]
    for model, kind in models:
        import_tiny(store, tiny_dirs[kind], model)
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("admin", is_admin=True, tier="unlimited")
    accounts.create_account("owner")
    accounts.set_model_access(SECRET, owner="owner", private=True)
    (home / "owner.token").write_text(accounts.create_token("owner", "t", scopes=tuple(Scope)[:3]).token)
    accounts.engine.dispose()
    for name, target in [
        ("org/embed-alias", EMBED),
        ("org/chain", "org/embed-alias"),
        ("bare-alias", EMBED),
        ("org/chat-alias", LLAMA),
        ("org/secret-alias", SECRET),
        ("org/doomed", "test/doomed"),
    ]:
        done = cli(home, "alias", "add", name, target)
        assert done.returncode == 0, done.stderr
    assert cli(home, "rm", "test/doomed").returncode == 0
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(home, HUBSERVE_HOLD_COLD_REQUESTS_S="180") as (url, _):
        yield url


def test_cli_refuses_shadowing_loops_and_missing_targets(home: Path) -> None:
    shadow = cli(home, "alias", "add", "test/tiny-cls", EMBED)
    assert shadow.returncode == 2 and "may not shadow" in shadow.stderr
    missing = cli(home, "alias", "add", "org/nowhere", "test/none")
    assert missing.returncode == 2 and "neither a model" in missing.stderr
    assert cli(home, "alias", "add", "loop/a", EMBED).returncode == 0
    assert cli(home, "alias", "add", "loop/b", "loop/a").returncode == 0
    loop = cli(home, "alias", "add", "--replace", "loop/a", "loop/b")
    assert loop.returncode == 2 and "alias_loop" in loop.stderr
    taken = cli(home, "alias", "add", "org/embed-alias", LLAMA)
    assert taken.returncode == 2 and "exists" in taken.stderr
    bad = cli(home, "alias", "add", "a/b/c", EMBED)
    assert bad.returncode == 2 and "invalid_model_id" in bad.stderr
    listed = cli(home, "alias", "ls").stdout
    assert "org/chain" in listed and "test/doomed (missing)" in listed
    for name in ("loop/b", "loop/a"):
        assert cli(home, "alias", "rm", name).returncode == 0
    assert cli(home, "alias", "rm", "loop/a").returncode == 2
    with pytest.raises(ModelExists, match="is an alias"):
        import_folder(
            HubStore(home / "hub"),
            HubStore(home / "hub").files_dir(ModelId.parse(EMBED)),
            ModelId.parse("org/embed-alias"),
            supported_tasks=supported_tasks(),
            show_progress=False,
        )


def _embed(url: str, path: str) -> tuple[np.ndarray, httpx.Response]:
    r = httpx.post(f"{url}{path}", json={"inputs": "i love pizza"}, timeout=120)
    assert r.status_code == 200, (path, r.text)
    return np.array(r.json()), r


def test_hf_routes_serve_aliases_and_bare_names(server: str) -> None:
    direct, _ = _embed(server, f"/models/{EMBED}")
    for path in (
        "/models/org/embed-alias",
        "/models/org/chain",
        "/models/org/embed-alias/pipeline/feature-extraction",
        "/hf-inference/models/org/embed-alias",
        "/pipeline/feature-extraction/org/embed-alias",
        "/models/bare-alias",
        "/hf-inference/models/bare-alias/pipeline/feature-extraction",
        "/models/tiny-embed",  # a bare model name
    ):
        vector, response = _embed(server, path)
        np.testing.assert_allclose(vector, direct, atol=1e-6)
        assert response.headers["x-model-id"] == EMBED
    out = InferenceClient(model=f"{server}/models/org/embed-alias").feature_extraction("i love pizza")
    np.testing.assert_allclose(out, direct, atol=1e-6)


def test_generation_dialects_serve_an_alias(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="unused")
    raw = client.chat.completions.with_raw_response.create(
        model="org/chat-alias", messages=[{"role": "user", "content": "hi"}], max_tokens=4, temperature=0
    )
    chat = raw.parse()
    assert chat.model == "org/chat-alias" and raw.headers["x-model-id"] == LLAMA
    same = client.chat.completions.create(
        model=LLAMA, messages=[{"role": "user", "content": "hi"}], max_tokens=4, temperature=0
    )
    assert chat.choices[0].message.content == same.choices[0].message.content
    done = client.completions.create(model="org/chat-alias", prompt="hello", max_tokens=3, temperature=0)
    assert done.model == "org/chat-alias" and done.choices[0].text
    hf = InferenceClient(model=f"{server}/models/org/chat-alias")
    assert hf.chat_completion([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0).choices
    assert hf.text_generation("hello", max_new_tokens=3)
    tgi = httpx.post(f"{server}/models/org/chat-alias/generate", json={"inputs": "hi", "parameters": {}})
    assert tgi.status_code == 200 and tgi.headers["x-model-id"] == LLAMA


def test_listings_show_the_name_the_client_asked_for(server: str) -> None:
    hub_ids = {m["id"] for m in httpx.get(f"{server}/api/models").json()}
    assert {"org/embed-alias", "org/chain", "bare-alias", "org/chat-alias", EMBED} <= hub_ids
    assert "org/doomed" not in hub_ids and "org/secret-alias" not in hub_ids
    info = HfApi(endpoint=server).model_info("org/embed-alias", expand=["inferenceProviderMapping"])
    assert info.id == "org/embed-alias"
    assert (
        info.inference_provider_mapping
        and info.inference_provider_mapping[0].provider_id == "org/embed-alias"
    )
    one = httpx.get(f"{server}/api/models/org/chain").json()
    assert (one["id"], one["servedBy"]) == ("org/chain", EMBED)
    openai_ids = {m.id for m in OpenAI(base_url=f"{server}/v1", api_key="unused").models.list()}
    assert {
        "org/embed-alias",
        "bare-alias",
        "org/chat-alias",
    } <= openai_ids and "org/secret-alias" not in openai_ids
    assert (
        OpenAI(base_url=f"{server}/v1", api_key="unused").models.retrieve("org/chat-alias").id
        == "org/chat-alias"
    )


def test_an_alias_has_its_targets_visibility(server: str, home: Path) -> None:
    owner = {"Authorization": f"Bearer {(home / 'owner.token').read_text()}"}
    for path in ("/models/org/secret-alias", "/hf-inference/models/org/secret-alias"):
        hidden = httpx.post(f"{server}{path}", json={"inputs": "hi"})
        assert (hidden.status_code, hidden.headers["x-error-type"]) == (404, "model_not_found")
        assert hidden.json() == {"error": "Model org/secret-alias does not exist"}
        assert (
            httpx.post(f"{server}{path}", json={"inputs": "hi"}, headers=owner, timeout=120).status_code
            == 200
        )
    assert httpx.get(f"{server}/api/models/org/secret-alias").status_code == 404
    assert httpx.get(f"{server}/api/models/org/secret-alias", headers=owner).json()["private"] is True
    mine = {m["id"] for m in httpx.get(f"{server}/api/models", headers=owner).json()}
    assert {"org/secret-alias", SECRET} <= mine


def test_dangling_and_ambiguous_names_are_clear_errors(server: str) -> None:
    dangling = httpx.post(f"{server}/models/org/doomed", json={"inputs": "hi"})
    assert (dangling.status_code, dangling.headers["x-error-type"]) == (404, "model_not_found")
    assert "org/doomed points to test/doomed" in dangling.json()["error"]
    both = httpx.post(f"{server}/models/tiny-cls", json={"inputs": "hi"})
    assert (both.status_code, both.headers["x-error-type"]) == (400, "ambiguous_model_id")
    assert "other/tiny-cls" in both.json()["error"] and "test/tiny-cls" in both.json()["error"]
    chat = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    with pytest.raises(Exception, match="points to test/doomed"):
        chat.completions.create(model="org/doomed", prompt="x", max_tokens=1)
    assert httpx.post(f"{server}/models/no-such-name", json={"inputs": "hi"}).status_code == 404
    for bad in (
        httpx.post(f"{server}/models/-bad", json={"inputs": "hi"}),
        httpx.post(f"{server}/hf-inference/models/a..b", json={"inputs": "hi"}),
        httpx.get(f"{server}/api/models/-bad"),
        httpx.get(f"{server}/v1/models/a%2Fb%2Fc"),
    ):
        assert (bad.status_code, bad.headers["x-error-type"]) == (400, "invalid_model_id"), bad.request.url
    router_chat = f"{server}/hf-inference/models/org/chat-alias/v1/chat/completions"
    chat = httpx.post(router_chat, json={"messages": 5})
    assert (chat.status_code, chat.headers["x-error-type"]) == (400, "validation")
    assert chat.json()["error"]["code"] == "validation"  # OpenAI's shape on the router's chat URL
    assert httpx.get(f"{server}/api/models", params={"sort": "size"}).status_code == 422
    assert httpx.get(f"{server}/api/models", params={"limit": 0}).status_code == 422
