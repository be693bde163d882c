"""Faults in real runners: killed while idle, stopped (SIGSTOP) mid-stream, out of memory.

Each is noticed, the runner is restarted, and the requests it hits fail fast with a clear 5xx, never hang.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_server

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
GEMMA = "google/gemma-3-270m"
WAIT = {"X-Wait-For-Model": "true"}


@pytest.fixture(scope="module")
def watched(hub_home: Path) -> Iterator[str]:
    """A server whose runners are health-checked twice a second and restarted 0.2 s after a crash.

    The tests share it, in random order: each counts its own restarts. A call gets 10 s: out of memory, a
    worker thread may die without a word, and only the deadline ends it.
    """
    with running_server(
        hub_home,
        HUBSERVE_HEALTH_CHECK_EVERY_S="0.5",
        HUBSERVE_HEALTH_CHECK_TIMEOUT_S="0.5",
        HUBSERVE_RESTART_BACKOFF_S="0.2",
        HUBSERVE_MAX_CRASHES="5",
        HUBSERVE_RUNNER_CALL_TIMEOUT_S="10",
        HUBSERVE_KEEP_ALIVE_S="300",
    ) as (url, _):
        yield url


def ps(url: str, admin: dict[str, str]) -> dict[str, dict[str, object]]:
    return {m["model"]: m for m in httpx.get(f"{url}/api/ps", headers=admin).json()["models"]}


def load(url: str, model: str, admin: dict[str, str]) -> int:
    httpx.post(f"{url}/api/models/{model}/load", headers=admin, timeout=180).raise_for_status()
    return int(ps(url, admin)[model]["pid"])  # type: ignore[call-overload]


def wait_state(url: str, model: str, admin: dict[str, str], state: str, within_s: float) -> dict[str, object]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        row = ps(url, admin).get(model)
        if row is not None and row["state"] == state:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{model} not {state} in {within_s}s: {ps(url, admin).get(model)}")


def embed(url: str, text: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/models/{MINILM}", json={"inputs": text}, headers={**WAIT, **headers}, timeout=120
    )


def test_every_request_after_an_idle_runner_is_killed_is_served(
    watched: str, admin_headers: dict[str, str]
) -> None:
    pid = load(watched, MINILM, admin_headers)
    before = int(ps(watched, admin_headers)[MINILM]["restarts"])  # type: ignore[call-overload]
    os.kill(pid, signal.SIGKILL)
    statuses = [embed(watched, f"after the kill {i}").status_code for i in range(6)]
    assert statuses == [200] * 6
    row = ps(watched, admin_headers)[MINILM]
    assert row["pid"] != pid and row["state"] == "ready" and row["restarts"] == before + 1, row
    assert "killed by signal 9" in str(row["error"])


def usage_status(home: Path, request_id: str) -> int:
    """The status the usage record of a request says, once the recorder has written it."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(home / "accounts.db") as db:
            row = db.execute(
                "SELECT status FROM usage_records WHERE request_id = ?", (request_id,)
            ).fetchone()
        if row is not None or time.monotonic() > deadline:
            assert row is not None, f"no usage record for {request_id}"
            return int(row[0])
        time.sleep(0.2)


def test_a_stopped_runner_is_killed_its_stream_ends_with_an_error_and_it_serves_again(
    watched: str, admin_headers: dict[str, str], hub_home: Path
) -> None:
    pid = load(watched, GEMMA, admin_headers)
    body = {
        "model": GEMMA,
        "prompt": "Once upon a time",
        "max_tokens": 400,
        "stream": True,
        "ignore_eos": True,
    }
    lines: list[str] = []
    started = time.monotonic()
    with httpx.stream("POST", f"{watched}/v1/completions", json=body, timeout=30) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line:
                lines.append(line)
            if len(lines) == 3:
                os.kill(pid, signal.SIGSTOP)
                stopped = time.monotonic()
    assert len(lines) > 3, lines
    ended_s = time.monotonic() - stopped
    assert lines[-1] == "data: [DONE]"
    assert any("runner_crashed" in line or "runner_timeout" in line for line in lines), lines[-3:]
    assert ended_s < 10, f"the stream hung {ended_s:.1f}s after the runner stopped"
    assert usage_status(hub_home, request_id) in (502, 504)  # the error that ended it, not the 200 head
    assert time.monotonic() - started < 30
    row = wait_state(watched, GEMMA, admin_headers, "ready", 120)
    assert row["pid"] != pid and "health checks" in str(row["error"])
    out = httpx.post(
        f"{watched}/v1/completions",
        json={"model": GEMMA, "prompt": "Hi", "max_tokens": 2},
        headers=WAIT,
        timeout=120,
    )
    assert out.status_code == 200


def _vm_size(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize")


def test_a_runner_out_of_memory_fails_its_request_clearly_and_restarts(
    watched: str, admin_headers: dict[str, str]
) -> None:
    pid = load(watched, MINILM, admin_headers)
    limit = _vm_size(pid)  # no room to grow: the next large batch cannot get its memory
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
    batch = [" ".join(["memory"] * 250) + f" {i}" for i in range(64)]
    out = httpx.post(f"{watched}/models/{MINILM}", json={"inputs": batch}, timeout=60)
    # Where the allocation fails decides how the runner ends (MemoryError: exit 86; glibc: abort; a worker
    # thread dying: the call deadline); each is a clear 5xx, and the runner is replaced.
    assert out.status_code in (502, 504), out.text
    assert out.headers["X-Error-Type"] in ("runner_crashed", "runner_timeout"), out.text
    row = wait_state(watched, MINILM, admin_headers, "ready", 120)
    assert row["pid"] != pid and int(row["restarts"]) >= 1, row
    assert embed(watched, "fine again").status_code == 200
