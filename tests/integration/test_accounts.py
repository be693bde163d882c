"""Accounts on a live server: tokens, private models, rate limits and usage, seen by the official clients."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest
import redis
import sqlalchemy
from huggingface_hub import HfApi, InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import free_port, running_server

TIERS = "anonymous=none;free=1000/1h;hourly3=3/1h;burst=2/2s;c150=150/1h;unlimited=none"
SECRET = "alice/secret-cls"
TEAM = "acme/team-cls"
PUBLIC = "test/public-cls"
GPT2 = "test/tiny-gpt2"


@dataclass(frozen=True)
class Tokens:
    """One token per account of the test home."""

    root: str
    alice: str
    bob: str
    carol: str
    dave: str
    erin: str
    revoked: str
    frank: str


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _populate(store: AccountStore) -> Tokens:
    store.create_account("root", is_admin=True, tier="unlimited")
    for name, tier in [("alice", "free"), ("bob", "free"), ("carol", "hourly3"), ("dave", "burst")]:
        store.create_account(name, tier=tier)
    store.create_account("erin", tier="c150")
    store.create_account("acme", kind="org")
    store.add_member("acme", "alice", "write")
    store.create_account("frank")
    store.add_member("acme", "frank", "read")
    store.set_model_access(SECRET, owner="alice", private=True)
    store.set_model_access(TEAM, owner="acme", private=True)
    revoked = store.create_token("bob", "old")
    store.revoke_token(revoked.info.id)
    return Tokens(
        root=store.create_token("root", "admin", scopes=tuple(Scope)).token,
        alice=store.create_token("alice", "laptop", scopes=(Scope.READ, Scope.INFERENCE, Scope.WRITE)).token,
        bob=store.create_token("bob", "laptop").token,
        carol=store.create_token("carol", "laptop").token,
        dave=store.create_token("dave", "laptop").token,
        erin=store.create_token("erin", "load").token,
        revoked=revoked.token,
        frank=store.create_token("frank", "laptop", scopes=(Scope.READ, Scope.INFERENCE, Scope.WRITE)).token,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """A data folder with public, private and org-private models."""
    home = tmp_path_factory.mktemp("accounts-home")
    hub = HubStore(home / "hub")
    for model, kind in [(SECRET, "cls"), (TEAM, "cls"), (PUBLIC, "cls"), (GPT2, "gpt2")]:
        import_folder(
            hub, tiny_dirs[kind], ModelId.parse(model), supported_tasks=supported_tasks(), show_progress=False
        )
    return home


@pytest.fixture(scope="module")
def tokens(home: Path) -> Tokens:
    store = AccountStore(make_engine(default_url(home)))
    migrate(store.engine)
    try:
        return _populate(store)
    finally:
        store.engine.dispose()


@pytest.fixture(scope="module")
def strict(home: Path, tokens: Tokens) -> Iterator[str]:
    """Anonymous use off; every model waits to load instead of answering 503."""
    env = {
        "HUBSERVE_ALLOW_ANONYMOUS": "false",
        "HUBSERVE_RATE_LIMIT_TIERS": TIERS,
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "120",
        "HUBSERVE_LOG_LEVEL": "debug",
    }
    with running_server(home, **env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def open_server(home: Path, tokens: Tokens) -> Iterator[str]:
    """Anonymous use on (the default)."""
    env = {"HUBSERVE_RATE_LIMIT_TIERS": TIERS, "HUBSERVE_HOLD_COLD_REQUESTS_S": "120"}
    with running_server(home, **env) as (url, _):
        yield url


def _classify(url: str, model: str, token: str | None) -> list[str]:
    client = InferenceClient(model=f"{url}/models/{model}", token=token)
    return [r.label for r in client.text_classification("i love pizza")]


def test_private_model_works_for_its_owner_and_org(strict: str, tokens: Tokens) -> None:
    assert set(_classify(strict, SECRET, tokens.alice)) == {"POSITIVE", "NEGATIVE"}
    assert set(_classify(strict, TEAM, tokens.alice)) == {"POSITIVE", "NEGATIVE"}  # alice is in acme
    assert set(_classify(strict, SECRET, tokens.root)) == {"POSITIVE", "NEGATIVE"}  # admins see all


def test_private_model_is_a_404_for_another_user_exactly_like_a_missing_one(
    strict: str, tokens: Tokens
) -> None:
    with pytest.raises(HfHubHTTPError) as hidden:
        _classify(strict, SECRET, tokens.bob)
    assert hidden.value.response.status_code == 404
    missing = httpx.post(
        f"{strict}/models/alice/nothing-here", json={"inputs": "x"}, headers=_bearer(tokens.bob)
    )
    body = hidden.value.response.json()
    assert (
        hidden.value.response.headers["x-error-type"] == missing.headers["x-error-type"] == "model_not_found"
    )
    assert body["error"] == missing.json()["error"].replace("alice/nothing-here", SECRET)
    for path in (
        f"/api/models/{SECRET}",
        f"/models/{SECRET}/info",
        f"/v1/models/{SECRET.replace('/', '%2F')}",
    ):
        assert httpx.get(f"{strict}{path}", headers=_bearer(tokens.bob)).status_code == 404, path
        assert httpx.get(f"{strict}{path}", headers=_bearer(tokens.alice)).status_code == 200, path
    chat = openai.OpenAI(base_url=f"{strict}/v1", api_key=tokens.bob, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        chat.models.retrieve(SECRET)


def test_no_token_bad_token_and_revoked_token_get_401(strict: str, tokens: Tokens) -> None:
    with pytest.raises(HfHubHTTPError) as caught:
        _classify(strict, PUBLIC, None)
    assert caught.value.response.status_code == 401
    assert "needs a token" in str(caught.value)
    assert caught.value.response.headers["www-authenticate"].startswith("Bearer")
    bad = httpx.post(f"{strict}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer("hs_" + "a" * 44))
    assert bad.status_code == 401 and bad.headers["x-error-type"] == "unauthorized"
    revoked = httpx.post(f"{strict}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer(tokens.revoked))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    not_bearer = httpx.post(
        f"{strict}/models/{PUBLIC}", json={"inputs": "x"}, headers={"Authorization": "Basic x"}
    )
    assert not_bearer.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{strict}/v1", api_key="sk-nothing", max_retries=0).models.list()
    assert httpx.get(f"{strict}/health").status_code == 200  # liveness stays open


def test_anonymous_callers_see_public_models_only(open_server: str, tokens: Tokens) -> None:
    assert set(_classify(open_server, PUBLIC, None)) == {"POSITIVE", "NEGATIVE"}
    with pytest.raises(HfHubHTTPError) as caught:
        _classify(open_server, SECRET, None)
    assert caught.value.response.status_code == 404
    listed = {m.id for m in openai.OpenAI(base_url=f"{open_server}/v1", api_key="anything").models.list()}
    assert PUBLIC in listed and SECRET not in listed and TEAM not in listed
    hub_list = {m["id"] for m in httpx.get(f"{open_server}/api/models").json()}
    assert PUBLIC in hub_list and SECRET not in hub_list
    mine = {m["id"]: m for m in httpx.get(f"{open_server}/api/models", headers=_bearer(tokens.alice)).json()}
    assert mine[SECRET]["private"] is True and mine[TEAM]["author"] == "acme"
    theirs = {m["id"] for m in httpx.get(f"{open_server}/api/models", headers=_bearer(tokens.bob)).json()}
    assert SECRET not in theirs and TEAM not in theirs
    assert httpx.get(f"{open_server}/api/ps").status_code == 403  # admin routes need an admin token
    assert httpx.get(f"{open_server}/api/ps", headers=_bearer(tokens.root)).status_code == 200


def test_bad_input_on_account_routes(strict: str, open_server: str, tokens: Tokens) -> None:
    settings = f"{strict}/api/models/{SECRET}/settings"
    alice, root = _bearer(tokens.alice), _bearer(tokens.root)
    cases = [
        (httpx.put(settings, content=b"{nope", headers=alice), 422, "validation"),
        (httpx.put(settings, json=["private"], headers=alice), 422, "validation"),
        (httpx.put(settings, json={"visibility": "protected"}, headers=alice), 422, "validation"),
        (httpx.put(settings, json={"owner": "bob"}, headers=alice), 403, "forbidden"),
        (httpx.put(settings, json={"owner": "ghost"}, headers=root), 404, "account_not_found"),
        (httpx.put(f"{strict}/api/models/te st/x/settings", json={}, headers=alice), 400, "invalid_model_id"),
        (httpx.get(f"{strict}/api/usage", params={"start": "yesterday"}, headers=alice), 422, "validation"),
        (httpx.get(f"{strict}/api/usage", params={"interval": "5s"}, headers=alice), 422, "validation"),
        (httpx.get(f"{strict}/api/usage", params={"interval": "inf"}, headers=alice), 422, "validation"),
        (httpx.get(f"{strict}/api/usage", params={"start": "inf"}, headers=alice), 422, "validation"),
        (httpx.get(f"{strict}/api/usage", params={"end": "nan"}, headers=alice), 422, "validation"),
        (
            httpx.get(
                f"{strict}/api/usage", params={"start": "2030-01-02", "end": "2030-01-01"}, headers=alice
            ),
            422,
            "validation",
        ),
        (httpx.get(f"{strict}/api/usage", params={"token": "abc"}, headers=alice), 422, "validation"),
        (httpx.get(f"{strict}/api/usage", params={"token": "999999"}, headers=alice), 403, "forbidden"),
        (httpx.get(f"{strict}/api/usage", params={"user": "ghost"}, headers=root), 404, "account_not_found"),
        (httpx.get(f"{strict}/api/usage", params={"model": "../x"}, headers=alice), 400, "invalid_model_id"),
        (httpx.get(f"{open_server}/api/usage"), 401, "unauthorized"),
        (httpx.get(f"{open_server}/api/whoami-v2"), 401, "unauthorized"),
        (httpx.post(f"{strict}/api/models/{PUBLIC}/load", headers=alice), 403, "forbidden"),
    ]
    for response, status, error_type in cases:
        assert response.status_code == status, (response.request.url, response.text)
        body = response.json()
        assert response.headers["x-error-type"] == error_type and body["error"], body
    typo = httpx.get(
        f"{open_server}/v1/models", headers=_bearer("hs_typo")
    )  # a mistyped token is no anonymous
    assert typo.status_code == 401 and typo.json()["error"]["code"] == "unauthorized"  # OpenAI's shape


def test_whoami_and_repo_settings_through_hfapi(strict: str, tokens: Tokens) -> None:
    me = HfApi(endpoint=strict, token=tokens.alice).whoami()
    assert me["type"] == "user" and me["name"] == "alice"
    assert [(o["name"], o["roleInOrg"]) for o in me["orgs"]] == [("acme", "write")]
    assert me["auth"]["accessToken"]["role"] == "write"
    assert HfApi(endpoint=strict, token=tokens.bob).whoami()["auth"]["accessToken"]["role"] == "read"
    with pytest.raises(HfHubHTTPError) as caught:
        HfApi(endpoint=strict, token=tokens.bob).update_repo_settings(SECRET, private=False)
    assert caught.value.response.status_code == 403  # bob's token has no write scope
    HfApi(endpoint=strict, token=tokens.alice).update_repo_settings(SECRET, private=False)
    try:
        assert set(_classify(strict, SECRET, tokens.bob)) == {"POSITIVE", "NEGATIVE"}
    finally:
        HfApi(endpoint=strict, token=tokens.alice).update_repo_settings(SECRET, private=True)
    assert httpx.get(f"{strict}/api/models/{SECRET}", headers=_bearer(tokens.bob)).status_code == 404


def test_org_members_see_org_models_but_only_writers_change_them(strict: str, tokens: Tokens) -> None:
    assert set(_classify(strict, TEAM, tokens.frank)) == {"POSITIVE", "NEGATIVE"}  # a reader of acme
    with pytest.raises(HfHubHTTPError) as caught:
        HfApi(endpoint=strict, token=tokens.frank).update_repo_settings(TEAM, private=False)
    assert caught.value.response.status_code == 403
    assert "write or admin role" in caught.value.response.json()["error"]
    HfApi(endpoint=strict, token=tokens.alice).update_repo_settings(TEAM, private=True)  # alice writes acme


def test_redis_down_fails_closed_with_503(home: Path, tokens: Tokens) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {
        "HUBSERVE_REDIS_URL": dead,
        "HUBSERVE_RATE_LIMIT_TIERS": TIERS,
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "120",
    }
    with running_server(home, **env) as (url, _):
        r = httpx.post(
            f"{url}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer(tokens.alice), timeout=30
        )
        assert r.status_code == 503 and r.headers["x-error-type"] == "rate_limit_unavailable"
        assert "retry-after" in r.headers and dead not in r.text
        unlimited = httpx.post(
            f"{url}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer(tokens.root), timeout=120
        )
        assert unlimited.status_code == 200  # a tier without windows needs no counter


def test_rate_limit_message_in_huggingface_hub(strict: str, tokens: Tokens) -> None:
    ok = httpx.post(
        f"{strict}/models/{PUBLIC}", json={"inputs": "a"}, headers=_bearer(tokens.carol), timeout=120
    )  # the model may still be cold: this server holds the request while it loads
    assert ok.status_code == 200
    assert ok.headers["ratelimit-policy"] == '"fixed window";"api";q=3;w=3600'
    assert ok.headers["x-ratelimit-limit"] == "3" and ok.headers["x-ratelimit-remaining"] == "2"
    for _ in range(2):
        _classify(strict, PUBLIC, tokens.carol)
    with pytest.raises(HfHubHTTPError) as caught:
        _classify(strict, PUBLIC, tokens.carol)
    message = str(caught.value)
    response = caught.value.response
    assert response.status_code == 429 and response.headers["x-error-type"] == "rate_limited"
    assert "you have reached your 'api' rate limit" in message
    assert f"Retry after {response.headers['retry-after']} seconds" in message
    assert "(0/3 requests remaining in current 3600s window)" in message
    assert int(response.headers["x-ratelimit-reset"]) == int(response.headers["retry-after"]) <= 3600


def test_openai_client_gets_rate_limit_error_then_retries_after_retry_after(
    strict: str, tokens: Tokens
) -> None:
    body = {"model": GPT2, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    warm = httpx.post(f"{strict}/v1/chat/completions", json=body, headers=_bearer(tokens.root), timeout=120)
    assert warm.status_code == 200
    # dave's tier allows 2 calls per 2 s window; by the third call of a window (at most 3 windows'
    # worth of calls), one is refused, wherever in its window the first one fell.
    impatient = openai.OpenAI(base_url=f"{strict}/v1", api_key=tokens.dave, max_retries=0)
    refused = _first_refusal(lambda: impatient.chat.completions.create(**body))  # type: ignore[call-overload]
    assert refused.code == "rate_limited"
    assert 1 <= int(refused.response.headers["retry-after"]) <= 2

    responses: list[httpx.Response] = []
    recorded = httpx.Client(event_hooks={"response": [responses.append]})
    patient = openai.OpenAI(base_url=f"{strict}/v1", api_key=tokens.dave, max_retries=3, http_client=recorded)
    for _ in range(10):  # until one call is refused and then let through on its retry
        start = len(responses)
        out = patient.chat.completions.create(**body)  # type: ignore[call-overload]
        assert out.usage is not None and out.usage.completion_tokens == 2
        statuses = [r.status_code for r in responses[start:]]
        if statuses[0] == 429:
            break
    assert statuses[0] == 429 and statuses[-1] == 200, statuses
    # The retry that got through was the first call of a new window: the client waited for it, as
    # Retry-After said, rather than retrying at once into the same full window.
    assert _remaining(responses[-1]) == 1


def _first_refusal(call: Callable[[], object], attempts: int = 10) -> openai.RateLimitError:
    for _ in range(attempts):
        try:
            call()
        except openai.RateLimitError as exc:
            return exc
    raise AssertionError(f"no call of {attempts} was refused")


def _remaining(response: httpx.Response) -> int:
    """The calls left in the binding window, from the RateLimit header (``"api";r=1;t=2``)."""
    match = re.search(r";r=(\d+);", response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match.group(1))


def _usage(url: str, token: str, **params: str) -> dict[str, object]:
    r = httpx.get(f"{url}/api/usage", params=params, headers=_bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _wait_for_requests(url: str, token: str, expected: int, **params: str) -> dict[str, object]:
    deadline = time.monotonic() + 15
    while True:
        body = _usage(url, token, **params)
        if body["totals"]["requests"] >= expected or time.monotonic() > deadline:  # type: ignore[index]
            return body
        time.sleep(0.2)


def test_usage_is_recorded_per_caller_and_filterable(strict: str, tokens: Tokens) -> None:
    # Only this test's calls: an earlier test's may still be on their way to the database.
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for text in ("one", "two", "three"):
        httpx.post(
            f"{strict}/models/{PUBLIC}",
            json={"inputs": [text, text]},
            headers=_bearer(tokens.bob),
            timeout=120,
        )
    chat = openai.OpenAI(base_url=f"{strict}/v1", api_key=tokens.bob)
    chat.chat.completions.create(model=GPT2, messages=[{"role": "user", "content": "hello"}], max_tokens=3)
    mine = _wait_for_requests(strict, tokens.bob, 4, start=since)
    totals = mine["totals"]
    assert totals["requests"] == 4  # type: ignore[index]
    by_model = {row["model"]: row for row in mine["by_model"]}  # type: ignore[attr-defined]
    assert by_model[PUBLIC]["input_items"] >= 6
    assert by_model[GPT2]["output_tokens"] >= 3 and by_model[GPT2]["input_tokens"] > 0
    only_gpt2 = _usage(strict, tokens.bob, model=GPT2, start=since)
    assert {row["model"] for row in only_gpt2["by_model"]} == {GPT2}  # type: ignore[attr-defined]
    assert mine["series"] and mine["series"][-1]["requests"] >= 1  # type: ignore[index]
    forbidden = httpx.get(f"{strict}/api/usage", params={"user": "alice"}, headers=_bearer(tokens.bob))
    assert forbidden.status_code == 403
    as_admin = _usage(strict, tokens.root, user="bob", start=since)
    assert as_admin["totals"]["requests"] == totals["requests"]  # type: ignore[index]
    bad = httpx.get(f"{strict}/api/usage", params={"interval": "fortnightly"}, headers=_bearer(tokens.bob))
    assert bad.status_code == 422 and bad.headers["x-error-type"] == "validation"


def test_cli_tables(home: Path, strict: str, tokens: Tokens) -> None:
    cli = [sys.executable, "-m", "hubserve.cli.main", "--home", str(home)]
    env = {**os.environ, "HUBSERVE_RATE_LIMIT_TIERS": TIERS}
    before = _usage(strict, tokens.bob)["totals"]["requests"]  # type: ignore[index]
    used = httpx.post(
        f"{strict}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer(tokens.bob), timeout=120
    )
    assert used.status_code == 200
    _wait_for_requests(strict, tokens.bob, before + 1)  # bob's own call, whatever ran before this test
    usage = subprocess.run(
        [*cli, "usage", "--user", "bob"], capture_output=True, text=True, check=True, env=env
    )
    assert PUBLIC in usage.stdout and "REQUESTS" in usage.stdout
    listed = subprocess.run(
        [*cli, "token", "list"], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert "alice" in listed and "revoked" in listed
    assert tokens.alice not in listed and tokens.alice[:15] in listed  # only prefix + selector
    bad_tier = subprocess.run(
        [*cli, "user", "create", "zed", "--tier", "gold"], capture_output=True, text=True
    )
    assert bad_tier.returncode == 2 and "Unknown tier 'gold'" in bad_tier.stderr
    bad_since = subprocess.run([*cli, "usage", "--since", "lately"], capture_output=True, text=True, env=env)
    assert bad_since.returncode == 2 and "'lately' is not a duration" in bad_since.stderr


def test_tokens_never_reach_the_log_or_the_database_in_clear(home: Path, strict: str, tokens: Tokens) -> None:
    for token in (tokens.alice, tokens.bob, tokens.revoked, "hs_" + "b" * 44):
        httpx.post(f"{strict}/models/{PUBLIC}", json={"inputs": "x"}, headers=_bearer(token), timeout=120)
    _wait_for_requests(strict, tokens.root, 1)
    port = strict.rsplit(":", 1)[1]
    log = (home / f"server-{port}.log").read_text()
    assert f"POST /models/{PUBLIC}" in log  # the access log saw these requests
    stored = b"".join(p.read_bytes() for p in home.glob("accounts.db*"))
    for token in (tokens.root, tokens.alice, tokens.bob, tokens.carol, tokens.revoked, "hs_" + "b" * 44):
        assert token not in log
        assert token.encode() not in stored and token[15:].encode() not in stored


def test_first_start_prints_an_admin_token_once(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    with running_server(tmp_path) as (url, _):
        port = url.rsplit(":", 1)[1]
        printed = [w for w in (tmp_path / f"server-{port}.log").read_text().split() if w.startswith("hs_")]
        assert len(printed) == 1
        assert httpx.get(f"{url}/api/ps", headers=_bearer(printed[0])).status_code == 200
    store = AccountStore(make_engine(default_url(tmp_path)))
    [bootstrap] = store.list_tokens("admin")
    assert bootstrap.scopes == tuple(s.value for s in Scope)
    assert bootstrap.last_used_at is not None  # written by the gateway at the latest when it stops
    store.engine.dispose()
    with running_server(tmp_path) as (url, _):
        port = url.rsplit(":", 1)[1]
        assert "hs_" not in (tmp_path / f"server-{port}.log").read_text()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    base = os.environ.get("HUBSERVE_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("HUBSERVE_TEST_POSTGRES_URL is not set: run `make test`, or scripts/test-services.sh")
    name = f"hubserve_it_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sqlalchemy.engine.make_url(base).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_gateways_share_one_limit_and_lose_no_usage(
    home: Path, redis_url: str, postgres_database: str
) -> None:
    store = AccountStore(make_engine(postgres_database))
    migrate(store.engine)
    tokens = _populate(store)
    store.engine.dispose()
    env = {
        "HUBSERVE_DATABASE_URL": postgres_database,
        "HUBSERVE_REDIS_URL": redis_url,
        "HUBSERVE_RATE_LIMIT_TIERS": TIERS,
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "120",
    }
    warm = {"inputs": "warm up", "options": {"use_cache": False}}
    with running_server(home, **env) as (first, _):
        httpx.post(f"{first}/models/{PUBLIC}", json=warm, headers=_bearer(tokens.root), timeout=120)
        with running_server(home, **env) as (second, _):
            httpx.post(f"{second}/models/{PUBLIC}", json=warm, headers=_bearer(tokens.root), timeout=120)

            def call(i: int) -> int:
                url = first if i % 2 else second
                body = {"inputs": f"request {i}", "options": {"use_cache": False}}
                r = httpx.post(f"{url}/models/{PUBLIC}", json=body, headers=_bearer(tokens.erin), timeout=60)
                return r.status_code

            with ThreadPoolExecutor(32) as pool:
                statuses = list(pool.map(call, range(200)))
            assert statuses.count(200) == 150 and statuses.count(429) == 50, statuses
            usage = _wait_for_requests(first, tokens.root, 200, user="erin")
            assert usage["totals"]["requests"] == 200  # type: ignore[index]
            assert usage["totals"]["errors"] == 50  # type: ignore[index]
            assert usage["totals"]["input_items"] == 150  # type: ignore[index]  # refused calls ran nothing


def _start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    assert exe is not None, "redis-server is not installed (apt-get install redis-server)"
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                client.close()
                return proc
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


def test_redis_stopped_mid_run_gives_503_and_service_comes_back_without_a_restart(
    home: Path, tokens: Tokens, tmp_path: Path
) -> None:
    port = free_port()
    redis_proc = _start_redis(port, tmp_path)
    env = {
        "HUBSERVE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "HUBSERVE_RATE_LIMIT_TIERS": TIERS,
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "120",
    }
    try:
        with running_server(home, **env) as (url, _):

            def classify() -> httpx.Response:
                body = {"inputs": "x"}
                return httpx.post(
                    f"{url}/models/{PUBLIC}", json=body, headers=_bearer(tokens.dave), timeout=120
                )

            assert classify().status_code == 200
            redis_proc.terminate()
            redis_proc.wait(10)
            down = classify()
            assert down.status_code == 503 and down.headers["x-error-type"] == "rate_limit_unavailable"
            redis_proc = _start_redis(port, tmp_path)
            assert classify().status_code == 200  # the same server, reconnected
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)


def test_a_locked_database_gives_503_and_service_comes_back_when_it_is_released(
    home: Path, tokens: Tokens
) -> None:
    env = {
        "HUBSERVE_DATABASE_TIMEOUT_S": "1",
        "HUBSERVE_AUTH_CACHE_S": "0",
        "HUBSERVE_HOLD_COLD_REQUESTS_S": "120",
    }
    with running_server(home, **env) as (url, _):

        def make_private(private: bool = True) -> httpx.Response:
            return httpx.put(
                f"{url}/api/models/{SECRET}/settings",
                json={"private": private},
                headers=_bearer(tokens.alice),
                timeout=30,
            )

        assert make_private().status_code == 200
        lock = sqlite3.connect(home / "accounts.db", timeout=5)
        try:
            lock.execute("BEGIN EXCLUSIVE")  # another process holds the file's write lock
            locked = make_private(False)  # a change: it needs the write lock
            assert locked.status_code == 503, locked.text
            assert locked.headers["x-error-type"] == "database_unavailable"
            assert locked.headers["retry-after"] == "5" and "accounts.db" not in locked.text
            # Readers go on in WAL mode: checking a token needs no write lock.
            assert httpx.get(f"{url}/api/whoami-v2", headers=_bearer(tokens.erin)).status_code == 200
        finally:
            lock.rollback()
            lock.close()
        assert make_private().json()["private"] is True  # back, and the refused change was not made
