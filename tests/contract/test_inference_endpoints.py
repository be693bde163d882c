"""Inference Endpoints through huggingface_hub 2.4's own endpoint functions, on a live server of its own.

The client reads its API base from ``constants.INFERENCE_ENDPOINTS_ENDPOINT`` at call time; the tests
point it here with monkeypatch, as ``hubserve.client.hf_hub.use_huggingface_hub`` does for users.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi, InferenceClient, constants
from huggingface_hub.errors import HfHubHTTPError

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.hub.store import HubStore
from tests.conftest import import_tiny, running_server

CPU = {
    "accelerator": "cpu",
    "instance_size": "x1",
    "instance_type": "local-cpu",
    "region": "local",
    "vendor": "local",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """A data folder of its own: stored endpoints come back with every server started on it."""
    home = tmp_path_factory.mktemp("endpoints")
    store = HubStore(home / "hub")
    import_tiny(store, tiny_dirs["embed"], "test/tiny-embed")
    import_tiny(store, tiny_dirs["embed"], "alice/roll")
    import_tiny(store, tiny_dirs["cls"], "test/tiny-cls")
    import_tiny(store, tiny_dirs["llama"], "test/tiny-llama")
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("root", is_admin=True, tier="unlimited")
    accounts.create_account("alice")
    accounts.create_account("bob")
    accounts.create_account("acme", kind="org")
    accounts.add_member("acme", "alice", "write")
    accounts.add_member("acme", "bob", "read")
    tokens = {
        "root": accounts.create_token("root", "t", scopes=tuple(Scope)).token,
        "alice": accounts.create_token("alice", "t", scopes=(Scope.READ, Scope.INFERENCE, Scope.WRITE)).token,
        "bob": accounts.create_token("bob", "t", scopes=(Scope.READ, Scope.INFERENCE, Scope.WRITE)).token,
        "alice_read": accounts.create_token("alice", "r", scopes=(Scope.READ, Scope.INFERENCE)).token,
    }
    for who, token in tokens.items():
        (home / f"{who}.token").write_text(token)
    accounts.engine.dispose()
    return home


def token(home: Path, who: str) -> str:
    return (home / f"{who}.token").read_text()


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(home) as (url, _):
        yield url


@pytest.fixture(autouse=True)
def endpoints_api(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", f"{server}/v2")


def api(server: str, home: Path, who: str = "alice") -> HfApi:
    return HfApi(endpoint=server, token=token(home, who))


def state(server: str, home: Path, name: str, ns: str = "alice") -> dict[str, Any]:
    raw = httpx.get(f"{server}/v2/endpoint/{ns}/{name}", headers=auth(home, "alice")).json()
    assert isinstance(raw, dict)
    return raw


def auth(home: Path, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(home, who)}"}


def until(check: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_whole_lifecycle_through_the_official_client(server: str, home: Path) -> None:
    hf = api(server, home)
    ep = hf.create_inference_endpoint(
        "embedder",
        repository="test/tiny-embed",
        framework="pytorch",
        task="feature-extraction",
        type="authenticated",
        namespace="alice",
        token=token(home, "alice"),
        **CPU,
    )
    assert ep.status in ("pending", "initializing", "running")
    assert ep.url == f"{server}/endpoints/alice/embedder" and ep.repository == "test/tiny-embed"
    ep.wait(timeout=120, refresh_every=1)
    assert ep.status == "running"
    vector = ep.client.feature_extraction("i love pizza")
    assert np.asarray(vector).shape[-1] == 32
    assert "embedder" in [
        e.name for e in hf.list_inference_endpoints(namespace="alice", token=token(home, "alice"))
    ]
    assert (
        hf.get_inference_endpoint("embedder", namespace="alice", token=token(home, "alice")).raw["status"][
            "readyReplica"
        ]
        == 1
    )

    ep.pause()
    assert ep.status == "paused"
    with pytest.raises(HfHubHTTPError) as paused:
        ep.client.feature_extraction("i love pizza")
    assert paused.value.response.status_code == 503
    assert paused.value.response.headers["x-error-type"] == "endpoint_unavailable"

    ep.resume()
    ep.wait(timeout=120, refresh_every=1)
    assert ep.client.feature_extraction("hello") is not None
    with pytest.raises(HfHubHTTPError, match="already running"):  # resume(running_ok=False) sees the 400
        ep.resume(running_ok=False)

    ep.scale_to_zero()
    assert ep.status == "scaledToZero" and ep.raw["status"]["readyReplica"] == 0
    cold = httpx.post(ep.url, json={"inputs": "a cold start"}, headers=auth(home, "alice"))
    assert cold.status_code == 503 and int(cold.headers["retry-after"]) >= 1
    assert "estimated_time" in cold.json()
    held = httpx.post(
        ep.url,
        json={"inputs": "held"},
        headers={**auth(home, "alice"), "X-Scale-Up-Timeout": "60"},
        timeout=90,
    )
    assert held.status_code == 200 and np.asarray(held.json()).shape[-1] == 32

    ep.update(min_replica=2, max_replica=2)
    until(lambda: state(server, home, "embedder")["status"]["readyReplica"] == 2)
    assert state(server, home, "embedder")["compute"]["scaling"] == {
        "minReplica": 2,
        "maxReplica": 2,
        "scaleToZeroTimeout": None,
        "measure": {},
    }
    ep.delete()
    with pytest.raises(HfHubHTTPError) as gone:
        hf.get_inference_endpoint("embedder", namespace="alice", token=token(home, "alice"))
    assert gone.value.response.status_code == 404
    assert httpx.post(f"{server}/endpoints/alice/embedder", json={"inputs": "x"}).status_code == 404


def test_two_replicas_share_concurrent_requests(server: str, home: Path) -> None:
    hf = api(server, home)
    ep = hf.create_inference_endpoint(
        "pair",
        repository="test/tiny-embed",
        framework="pytorch",
        min_replica=2,
        max_replica=2,
        namespace="alice",
        token=token(home, "alice"),
        **CPU,
    )
    until(lambda: state(server, home, "pair")["status"]["readyReplica"] == 2)
    with httpx.Client(headers=auth(home, "alice"), timeout=60) as client:
        threads = [
            threading.Thread(
                target=lambda t=t: [
                    client.post(ep.url, json={"inputs": [f"text {t} {i}"] * 8}) for i in range(10)
                ]
            )
            for t in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ps = httpx.get(f"{server}/api/ps", headers=auth(home, "root")).json()
    (row,) = [m for m in ps["models"] if m["endpoint"] and "alice/pair" in m["endpoint"]]
    served = [r["served"] for r in row["runners"]]
    assert len({r["pid"] for r in row["runners"]}) == 2 and sum(served) == 60 and min(served) > 0

    def metered() -> int:  # calls to an endpoint are metered under its name
        usage = httpx.get(f"{server}/api/usage", headers=auth(home, "alice")).json()
        return sum(e["requests"] for e in usage["by_endpoint"] if e["endpoint"] == "alice/pair")

    until(lambda: metered() == 60, timeout_s=30)
    ep.delete()


def test_generation_and_chat_on_a_public_endpoint(server: str, home: Path) -> None:
    ep = api(server, home).create_inference_endpoint(
        "talker",
        repository="test/tiny-llama",
        framework="pytorch",
        type="public",
        namespace="acme",
        token=token(home, "alice"),
        **CPU,
    )
    ep.wait(timeout=180, refresh_every=1)
    anyone = InferenceClient(model=ep.url)  # public: no token
    assert isinstance(anyone.text_generation("hello", max_new_tokens=4), str)
    reply = anyone.chat_completion([{"role": "user", "content": "hi"}], max_tokens=4)
    assert reply.choices[0].message.content is not None and reply.usage.completion_tokens <= 4
    streamed = list(anyone.text_generation("hello", max_new_tokens=3, stream=True))
    assert 1 <= len(streamed) <= 3
    ep.delete()


def test_access_types_and_who_may_manage(server: str, home: Path) -> None:
    alice = api(server, home)
    private = alice.create_inference_endpoint(
        "secret",
        repository="test/tiny-embed",
        framework="pytorch",
        type="private",
        namespace="alice",
        token=token(home, "alice"),
        **CPU,
    )
    shared = alice.create_inference_endpoint(
        "shared",
        repository="test/tiny-embed",
        framework="pytorch",
        type="authenticated",
        namespace="acme",
        token=token(home, "alice"),
        **CPU,
    )
    private.wait(timeout=120, refresh_every=1)
    shared.wait(timeout=120, refresh_every=1)
    body = {"inputs": "hello"}
    assert httpx.post(private.url, json=body, headers=auth(home, "alice")).status_code == 200
    assert httpx.post(private.url, json=body, headers=auth(home, "bob")).status_code == 404
    assert httpx.post(private.url, json=body).status_code == 404
    assert httpx.post(shared.url, json=body).status_code == 401
    assert httpx.post(shared.url, json=body, headers=auth(home, "bob")).status_code == 200
    # Management: bob cannot see alice's namespace, and may read but not change acme's (a read member).
    bob = {"Authorization": f"Bearer {token(home, 'bob')}"}
    assert httpx.get(f"{server}/v2/endpoint/alice", headers=bob).status_code == 404
    assert [e["name"] for e in httpx.get(f"{server}/v2/endpoint/acme", headers=bob).json()["items"]] == [
        "shared"
    ]
    denied = httpx.post(f"{server}/v2/endpoint/acme/shared/pause", headers=bob)
    assert denied.status_code == 403 and denied.headers["x-error-type"] == "forbidden"
    read_only = httpx.delete(f"{server}/v2/endpoint/alice/secret", headers=auth(home, "alice_read"))
    assert read_only.status_code == 403
    assert httpx.get(f"{server}/v2/endpoint/alice").status_code == 401
    private.delete()
    shared.delete()


@pytest.mark.parametrize(
    ("change", "status", "error_type", "names"),
    [
        ({"name": "Bad_Name"}, 422, "validation", "lower-case"),
        ({"name": "x" * 40}, 422, "validation", "32"),
        ({"type": "secret"}, 400, "bad_request", "public, authenticated, private"),
        ({"model": {"repository": "nobody/nothing"}}, 400, "bad_request", "test/tiny-embed"),
        (
            {"model": {"repository": "test/tiny-embed", "task": "text-generation"}},
            400,
            "task_not_supported",
            "feature-extraction",
        ),
        (
            {"model": {"repository": "test/tiny-embed", "revision": "deadbeef00"}},
            400,
            "bad_request",
            "its revision is",
        ),
        ({"compute": {"instanceSize": "x64"}}, 400, "bad_request", "cpu/local-cpu/x1"),
        ({"provider": {"vendor": "aws", "region": "us-east-1"}}, 400, "bad_request", "vendor 'local'"),
        ({"compute": {"scaling": {"minReplica": 2, "maxReplica": 1}}}, 422, "validation", "minReplica"),
        ({"compute": {"scaling": {"minReplica": -1, "maxReplica": 1}}}, 422, "validation", "at least 0"),
        ({"compute": {"scaling": {"minReplica": 1, "maxReplica": 99}}}, 400, "bad_request", "at most"),
        (
            {"compute": {"scaling": {"minReplica": 1, "maxReplica": 1, "scaleToZeroTimeout": 5}}},
            422,
            "validation",
            "minReplica 0",
        ),
        (
            {"compute": {"scaling": {"minReplica": 0, "maxReplica": 1, "measure": {"hardwareUsage": 80}}}},
            400,
            "bad_request",
            "pendingRequests",
        ),
        ({"model": {"repository": "test/tiny-embed", "env": {"1ST": "x"}}}, 422, "validation", "'1ST'"),
        ({"model": {"repository": "test/tiny-embed", "env": {"A": 1}}}, 422, "validation", "strings"),
        (
            {"model": {"repository": "test/tiny-embed", "secrets": {"KEY": "s3cret"}}},
            400,
            "bad_request",
            "model.env",
        ),
        (
            {"model": {"repository": "test/tiny-embed", "image": {"custom": {"url": "ghcr.io/x:1"}}}},
            400,
            "bad_request",
            "not supported",
        ),
    ],
)
def test_bad_create_bodies_get_a_clear_error(
    server: str, home: Path, change: dict[str, Any], status: int, error_type: str, names: str
) -> None:
    body: dict[str, Any] = {
        "name": "fine",
        "type": "authenticated",
        "provider": {"vendor": "local", "region": "local"},
        "compute": {
            "accelerator": "cpu",
            "instanceType": "local-cpu",
            "instanceSize": "x1",
            "scaling": {"minReplica": 1, "maxReplica": 1},
        },
        "model": {"repository": "test/tiny-embed", "framework": "pytorch", "image": {"huggingface": {}}},
    }
    for key, value in change.items():
        if key == "compute":
            scaling = {**body["compute"]["scaling"], **value.get("scaling", {})}
            body["compute"] = {**body["compute"], **value, "scaling": scaling}
        elif isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    answer = httpx.post(f"{server}/v2/endpoint/alice", json=body, headers=auth(home, "alice"))
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert names in answer.json()["error"]
    assert httpx.get(f"{server}/v2/endpoint/alice/fine", headers=auth(home, "alice")).status_code == 404


def runner_env(server: str, home: Path, name: str) -> list[dict[str, str]]:
    """The process environment of each runner the endpoint has now (read from /proc by its pid)."""
    ps = httpx.get(f"{server}/api/ps", headers=auth(home, "root")).json()
    rows = [m for m in ps["models"] if m["endpoint"] and f"alice/{name}@" in m["endpoint"]]
    envs = []
    for row in rows:
        for runner in row["runners"]:
            raw = Path(f"/proc/{runner['pid']}/environ").read_bytes().split(b"\0")
            envs.append(dict(item.decode().split("=", 1) for item in raw if b"=" in item))
    return envs


def test_model_env_reaches_the_runners_and_a_change_rolls_over(server: str, home: Path) -> None:
    ep = api(server, home).create_inference_endpoint(
        "withenv",
        repository="test/tiny-embed",
        framework="pytorch",
        namespace="alice",
        env={"GREETING": "hello", "HF_HUB_OFFLINE": "0"},
        token=token(home, "alice"),
        **CPU,
    )
    ep.wait(timeout=120, refresh_every=1)
    (env,) = runner_env(server, home, "withenv")
    assert env["GREETING"] == "hello"
    assert env["HF_HUB_OFFLINE"] == "1"  # runners never reach for a remote hub, whatever the spec says
    assert state(server, home, "withenv")["model"]["env"] == {"GREETING": "hello", "HF_HUB_OFFLINE": "0"}

    api(server, home).update_inference_endpoint(
        "withenv", namespace="alice", env={"GREETING": "bonjour"}, token=token(home, "alice")
    )
    until(
        lambda: (
            state(server, home, "withenv")["status"]["state"] == "running"
            and [e.get("GREETING") for e in runner_env(server, home, "withenv")] == ["bonjour"]
        )
    )
    assert ep.client.feature_extraction("still serving").shape[-1] == 32
    ep.delete()


@pytest.mark.parametrize(
    ("change", "status", "error_type", "names"),
    [
        ({"model": {"env": {"bad-name": "x"}}}, 422, "validation", "'bad-name'"),
        ({"model": {"secrets": {"KEY": "v"}}}, 400, "bad_request", "model.secrets"),
        ({"model": {"repository": "nobody/nothing"}}, 400, "bad_request", "test/tiny-cls"),
        ({"model": {"task": "text-generation"}}, 400, "task_not_supported", "text-classification"),
        ({"compute": {"scaling": {"minReplica": 3, "maxReplica": 2}}}, 422, "validation", "minReplica"),
        ({"compute": {"instanceSize": "x64"}}, 400, "bad_request", "cpu/local-cpu/x1"),
        ({"type": "secret"}, 400, "bad_request", "public, authenticated, private"),
        ({"model": "not an object"}, 422, "validation", "model"),
    ],
)
def test_bad_updates_get_a_clear_error_and_change_nothing(
    server: str, home: Path, change: dict[str, Any], status: int, error_type: str, names: str
) -> None:
    name = "steady"
    if httpx.get(f"{server}/v2/endpoint/alice/{name}", headers=auth(home, "alice")).status_code == 404:
        api(server, home).create_inference_endpoint(
            name,
            repository="test/tiny-cls",
            framework="pytorch",
            namespace="alice",
            min_replica=0,
            max_replica=1,
            token=token(home, "alice"),
            **CPU,
        )
    before = state(server, home, name)
    answer = httpx.put(f"{server}/v2/endpoint/alice/{name}", json=change, headers=auth(home, "alice"))
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert names in answer.json()["error"]
    after = state(server, home, name)
    assert {k: after[k] for k in ("model", "compute", "type")} == {
        k: before[k] for k in ("model", "compute", "type")
    }


def test_a_duplicate_name_is_a_conflict_and_protected_means_authenticated(server: str, home: Path) -> None:
    body = {
        "name": "twice",
        "type": "protected",  # the seed's word; huggingface_hub 2.x refuses to send it itself
        "provider": {"vendor": "local", "region": "local"},
        "compute": {
            "accelerator": "cpu",
            "instanceType": "local-cpu",
            "instanceSize": "x1",
            "scaling": {"minReplica": 1, "maxReplica": 1},
        },
        "model": {"repository": "test/tiny-cls", "framework": "pytorch"},
    }
    first = httpx.post(f"{server}/v2/endpoint/alice", json=body, headers=auth(home, "alice"))
    assert first.status_code == 200 and first.json()["type"] == "authenticated"
    assert first.json()["model"]["task"] == "text-classification"
    again = httpx.post(f"{server}/v2/endpoint/alice", json=body, headers=auth(home, "alice"))
    assert again.status_code == 409 and again.headers["x-error-type"] == "endpoint_exists"
    # A delete stops the runner and waits for a load still under way: seconds, past httpx's 5 s default.
    deleted = httpx.delete(f"{server}/v2/endpoint/alice/twice", headers=auth(home, "alice"), timeout=120)
    assert deleted.status_code == 200


def test_hardware_is_this_machine(server: str, home: Path) -> None:
    hardware = (
        api(server, home).list_inference_endpoints_hardware(namespace="alice")
        if hasattr(HfApi, "list_inference_endpoints_hardware")
        else None
    )
    raw = httpx.get(f"{server}/v2/provider/alice", headers=auth(home, "alice")).json()
    (vendor,) = raw["vendors"]
    computes = vendor["regions"][0]["computes"]
    assert computes[0]["instanceSize"] == "x1" and computes[0]["accelerator"] == "cpu"
    if hardware is not None:
        assert any(h.instance_size == "x1" for h in hardware)


def test_a_rollover_to_a_new_revision_loses_no_request(
    server: str, home: Path, tiny_dirs: dict[str, Path]
) -> None:
    ep = api(server, home).create_inference_endpoint(
        "roller",
        repository="alice/roll",
        framework="pytorch",
        namespace="alice",
        token=token(home, "alice"),
        **CPU,
    )
    ep.wait(timeout=120, refresh_every=1)
    old_revision = ep.revision
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(headers=auth(home, "alice"), timeout=60) as client:
            while not stop.is_set():
                statuses.append(client.post(ep.url, json={"inputs": "hello"}).status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        changed = home / "roll-v2"
        shutil.copytree(tiny_dirs["embed"], changed)
        (changed / "README.md").write_text("v2\n")
        import_folder_replacing(home, changed)
        new_revision = HubStore(home / "hub").get(parse("alice/roll")).revision
        assert new_revision != old_revision
        ep.update(revision=new_revision)
        until(lambda: state(server, home, "roller")["status"]["state"] == "running" and len(statuses) > 20)
        time.sleep(1.0)
    finally:
        stop.set()
        worker.join()
    assert state(server, home, "roller")["model"]["revision"] == new_revision
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    ep.delete()


def test_endpoints_come_back_after_a_restart(home: Path) -> None:
    with running_server(home) as (url, _):
        constants.INFERENCE_ENDPOINTS_ENDPOINT = f"{url}/v2"
        api(url, home).create_inference_endpoint(
            "lasting",
            repository="test/tiny-cls",
            framework="pytorch",
            namespace="alice",
            token=token(home, "alice"),
            **CPU,
        ).wait(timeout=120, refresh_every=1)
    with running_server(home) as (url, _):
        constants.INFERENCE_ENDPOINTS_ENDPOINT = f"{url}/v2"
        ep = api(url, home).get_inference_endpoint("lasting", namespace="alice", token=token(home, "alice"))
        assert ep.url == f"{url}/endpoints/alice/lasting"
        ep.wait(timeout=120, refresh_every=1)
        assert ep.client.text_classification("i love pizza")
        ep.delete()


def parse(model: str) -> Any:
    from hubserve.types.names import ModelId

    return ModelId.parse(model)


def import_folder_replacing(home: Path, folder: Path) -> None:
    from hubserve.hub.importers import import_folder
    from hubserve.tasks.registry import supported_tasks

    import_folder(
        HubStore(home / "hub"),
        folder,
        parse("alice/roll"),
        supported_tasks=supported_tasks(),
        replace=True,
        show_progress=False,
    )


def test_the_cli_manages_endpoints(server: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hubserve.cli.main import main

    common = ["--url", server, "--token", token(home, "alice")]
    assert main(["endpoint", "create", "clied", "--model", "test/tiny-cls", "--wait", *common]) == 0
    assert f"alice/clied: running at {server}/endpoints/alice/clied" in capsys.readouterr().out
    assert main(["endpoint", "ls", *common]) == 0
    assert "clied" in capsys.readouterr().out
    assert main(["endpoint", "update", "clied", "--max-replica", "2", "--env", "MODE=fast", *common]) == 0
    assert main(["endpoint", "describe", "clied", *common]) == 0
    described = capsys.readouterr().out
    assert '"maxReplica": 2' in described and '"MODE": "fast"' in described
    assert main(["endpoint", "pause", "clied", *common]) == 0
    assert "alice/clied: paused" in capsys.readouterr().out
    assert main(["endpoint", "create", "clied", "--model", "test/tiny-cls", *common]) == 2
    assert "endpoint_exists" in capsys.readouterr().err
    assert main(["endpoint", "rm", "clied", *common]) == 0
    assert main(["endpoint", "describe", "clied", *common]) == 2
    assert "endpoint_not_found" in capsys.readouterr().err
