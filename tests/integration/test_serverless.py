"""Real runners behind a server with HF's default cold-start behaviour: 503 + estimated_time, or hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from openai import OpenAI

from tests.conftest import running_server

T = TypeVar("T")


@pytest.fixture(scope="module")
def cold(hub_home: Path) -> Iterator[tuple[str, int]]:
    """A server that answers 503 while a model loads; yields its URL and pid."""
    with running_server(hub_home, HUBSERVE_KEEP_ALIVE_S="120") as (url, proc):
        yield url, proc.pid


def _ps(url: str, admin: dict[str, str]) -> dict[str, dict[str, object]]:
    return {m["model"]: m for m in httpx.get(f"{url}/api/ps", headers=admin).json()["models"]}


def _unload(url: str, model: str, admin: dict[str, str]) -> None:
    httpx.post(f"{url}/api/models/{model}/unload", headers=admin).raise_for_status()
    assert model not in _ps(url, admin)


def test_cold_request_gets_503_then_retry_succeeds(
    cold: tuple[str, int], admin_headers: dict[str, str]
) -> None:
    url, _ = cold
    _unload(url, "test/tiny-cls", admin_headers)  # another test of this server may have loaded it
    client = InferenceClient(model=f"{url}/models/test/tiny-cls")
    with pytest.raises(HfHubHTTPError) as caught:
        client.text_classification("i love pizza")
    response = caught.value.response
    assert response.status_code == 503
    assert "Model test/tiny-cls is currently loading" in str(caught.value)
    assert response.json()["estimated_time"] > 0
    assert int(response.headers["retry-after"]) >= 1
    result = _retry_while_loading(lambda: client.text_classification("i love pizza"))
    assert {r.label for r in result} == {"POSITIVE", "NEGATIVE"}
    assert _ps(url, admin_headers)["test/tiny-cls"]["state"] == "ready"


def _retry_while_loading(call: Callable[[], T], limit_s: float = 60) -> T:
    """What a script does with HF's 503: wait and retry, bounded in time."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return call()
        except HfHubHTTPError as exc:
            if exc.response.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize(
    ("headers", "options"),
    [
        ({"X-Wait-For-Model": "true"}, None),
        ({}, {"wait_for_model": True}),
        ({"X-Scale-Up-Timeout": "60"}, None),
    ],
)
def test_hold_until_loaded(
    cold: tuple[str, int],
    headers: dict[str, str],
    options: dict[str, bool] | None,
    admin_headers: dict[str, str],
) -> None:
    url, _ = cold
    model = "test/tiny-mlm"
    if model in _ps(url, admin_headers):
        _unload(url, model, admin_headers)
    body: dict[str, object] = {"inputs": "i love [MASK]."}
    if options:
        body["options"] = options
    r = httpx.post(f"{url}/models/{model}", json=body, headers=headers, timeout=120)
    assert r.status_code == 200, r.text
    assert len(r.json()) == 5


def test_openai_client_waits_through_retry_after(cold: tuple[str, int]) -> None:
    url, _ = cold
    raw = httpx.post(
        f"{url}/v1/completions", json={"model": "test/tiny-gpt2", "prompt": "hi", "max_tokens": 2}
    )
    assert raw.status_code == 503 and raw.json()["error"]["code"] == "model_loading"
    client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=8)
    out = client.completions.create(model="test/tiny-gpt2", prompt="hello", max_tokens=3, temperature=0)
    assert out.usage.completion_tokens == 3


def test_sigkill_mid_request_then_gateway_still_serves(
    cold: tuple[str, int], admin_headers: dict[str, str]
) -> None:
    url, _ = cold
    model = "google/gemma-3-270m"
    httpx.post(f"{url}/api/models/{model}/load", headers=admin_headers, timeout=120).raise_for_status()
    pid = int(_ps(url, admin_headers)[model]["pid"])  # type: ignore[call-overload]
    body = {
        "model": model,
        "prompt": "Once upon a time",
        "max_tokens": 1500,
        "stream": True,
        "ignore_eos": True,
    }
    lines: list[str] = []
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if line:
                lines.append(line)
            if len(lines) == 3:
                os.kill(pid, signal.SIGKILL)
    assert any('"code":"runner_crashed"' in line or "runner_crashed" in line for line in lines), lines[-3:]
    assert lines[-1] == "data: [DONE]"
    assert httpx.get(f"{url}/health").status_code == 200
    out = httpx.post(
        f"{url}/v1/completions",
        json={"model": model, "prompt": "Hi", "max_tokens": 2},
        headers={"X-Wait-For-Model": "true"},
        timeout=120,
    )
    assert out.status_code == 200
    assert int(_ps(url, admin_headers)[model]["pid"]) != pid  # type: ignore[call-overload]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_unload_gives_memory_back(cold: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, gateway_pid = cold
    model = "sentence-transformers/all-MiniLM-L6-v2"
    baseline = _rss(gateway_pid)
    httpx.post(f"{url}/api/models/{model}/load", headers=admin_headers, timeout=120).raise_for_status()
    entry = _ps(url, admin_headers)[model]
    runner_pid = int(entry["pid"])  # type: ignore[call-overload]
    assert int(entry["memory_bytes"]) > 100 << 20  # type: ignore[call-overload]  # the weights live in the runner
    r = httpx.post(f"{url}/models/{model}", json={"inputs": "hello"}, timeout=60)
    assert r.status_code == 200
    _unload(url, model, admin_headers)
    assert not Path(f"/proc/{runner_pid}").exists(), "the runner process must be gone"
    assert _rss(gateway_pid) < baseline + (50 << 20)


def test_keep_alive_zero_unloads_after_the_request(
    cold: tuple[str, int], admin_headers: dict[str, str]
) -> None:
    url, _ = cold
    model = "test/tiny-qa"
    body = {"inputs": {"question": "where?", "context": "i live in paris"}}
    r = httpx.post(
        f"{url}/models/{model}",
        json=body,
        headers={"X-Wait-For-Model": "1", "X-Keep-Alive": "0"},
        timeout=120,
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while model in _ps(url, admin_headers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert model not in _ps(url, admin_headers)


def test_cache_hit_and_bypass(cold: tuple[str, int]) -> None:
    url, _ = cold
    model = "test/tiny-embed"
    hold = {"X-Wait-For-Model": "1"}
    body = {"inputs": "cache me please"}
    first = httpx.post(f"{url}/models/{model}", json=body, headers=hold, timeout=120)
    second = httpx.post(f"{url}/models/{model}", json=body, headers=hold)
    bypass = httpx.post(f"{url}/models/{model}", json=body, headers={**hold, "X-Use-Cache": "false"})
    legacy = httpx.post(f"{url}/models/{model}", json={**body, "options": {"use_cache": False}}, headers=hold)
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert second.headers["x-compute-type"] == "cache"
    assert bypass.headers["x-cache"] == "MISS" and legacy.headers["x-cache"] == "MISS"
    assert first.json() == second.json() == bypass.json()


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    cold: tuple[str, int], admin_headers: dict[str, str]
) -> None:
    url, _ = cold
    model = "test/tiny-embed"
    texts = [f"sentence number {i} " + "pizza " * (i % 5) for i in range(48)]
    hold = {"X-Wait-For-Model": "1", "X-Use-Cache": "false"}
    singles = [
        httpx.post(f"{url}/models/{model}", json={"inputs": t}, headers=hold, timeout=60).json()[0]
        for t in texts[:4]
    ]
    before = httpx.get(f"{url}/api/ps", headers=admin_headers).json()["encoder_calls"]
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda t: httpx.post(f"{url}/models/{model}", json={"inputs": t}, headers=hold, timeout=60),
                texts,
            )
        )
    calls = httpx.get(f"{url}/api/ps", headers=admin_headers).json()["encoder_calls"] - before
    assert all(r.status_code == 200 for r in results)
    np.testing.assert_allclose([r.json()[0] for r in results[:4]], singles, atol=1e-5)
    assert calls < len(texts), f"{calls} runner calls for {len(texts)} requests: nothing was batched"


def test_bad_input_in_a_batch_fails_only_its_own_request(cold: tuple[str, int]) -> None:
    url, _ = cold
    model = "test/tiny-cls"
    hold = {"X-Wait-For-Model": "1", "X-Use-Cache": "false"}
    texts = ["fine text"] * 6 + ["pizza " * 300]
    with ThreadPoolExecutor(7) as pool:
        results = list(
            pool.map(
                lambda t: httpx.post(f"{url}/models/{model}", json={"inputs": t}, headers=hold, timeout=60),
                texts,
            )
        )
    assert [r.status_code for r in results] == [200] * 6 + [413]


def test_admin_load_pin_and_bad_names(cold: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, _ = cold
    r = httpx.post(
        f"{url}/api/models/test/tiny-ner/load", headers=admin_headers, params={"pin": "true"}, timeout=120
    )
    assert r.status_code == 200 and r.json()["pinned"] is True and r.json()["state"] == "ready"
    assert _ps(url, admin_headers)["test/tiny-ner"]["pinned"] is True
    _unload(url, "test/tiny-ner", admin_headers)
    assert httpx.post(f"{url}/api/models/test/none/load", headers=admin_headers).status_code == 404
    assert httpx.post(f"{url}/api/models/test/none/unload", headers=admin_headers).status_code == 404


def test_cli_ps_load_unload(cold: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, _ = cold
    cli = [sys.executable, "-m", "hubserve.cli.main"]
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    env = {**os.environ, "HUBSERVE_TOKEN": token}
    anonymous = subprocess.run([*cli, "ps", "--url", url], capture_output=True, text=True)
    assert anonymous.returncode == 2 and "admin" in anonymous.stderr
    loaded = subprocess.run(
        [*cli, "load", "test/tiny-gpt2", "--url", url], capture_output=True, text=True, check=True, env=env
    )
    assert "loaded test/tiny-gpt2" in loaded.stdout
    table = subprocess.run(
        [*cli, "ps", "--url", url], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert "test/tiny-gpt2" in table and "ready" in table and "memory:" in table
    subprocess.run(
        [*cli, "unload", "test/tiny-gpt2", "--url", url], capture_output=True, text=True, check=True, env=env
    )
    assert "test/tiny-gpt2" not in _ps(url, admin_headers)
    dead = subprocess.run([*cli, "ps", "--url", "http://127.0.0.1:9"], capture_output=True, text=True)
    assert dead.returncode == 2 and "cannot reach the server at http://127.0.0.1:9" in dead.stderr


def test_runners_exit_when_the_gateway_is_killed(hub_home: Path, admin_headers: dict[str, str]) -> None:
    with running_server(hub_home) as (url, proc):
        httpx.post(
            f"{url}/api/models/test/tiny-cls/load", headers=admin_headers, timeout=120
        ).raise_for_status()
        runner = int(_ps(url, admin_headers)["test/tiny-cls"]["pid"])  # type: ignore[call-overload]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{runner}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{runner}").exists() or "zombie" in Path(f"/proc/{runner}/status").read_text()


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_sigterm_while_models_load_exits_promptly_and_leaves_no_runner(hub_home: Path) -> None:
    """A load under way is cancelled, not waited for, and no runner process outlives the gateway."""
    with running_server(hub_home, HUBSERVE_LOG_LEVEL="info") as (url, proc):
        for model in ("test/tiny-cls", "test/tiny-embed", "test/tiny-ner"):
            cold = httpx.post(f"{url}/models/{model}", json={"inputs": "x"}, timeout=30)
            assert cold.status_code == 503  # each one's load goes on in the background
        runners = _children(proc.pid)
        assert runners  # the spare and the runners being started
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down; the bound is a hang's (the cancelling of
        # the loads is unit-tested on the loop's clock).
        assert proc.wait(timeout=60) == -signal.SIGTERM
    log = (hub_home / f"server-{url.rsplit(':', 1)[1]}.log").read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log, log[-3000:]
    left = [pid for pid in runners if Path(f"/proc/{pid}").exists()]
    assert all("zombie" in Path(f"/proc/{pid}/status").read_text() for pid in left), left
