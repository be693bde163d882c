"""SIGTERM during a stream: the stream gets its grace, then a final error event; usage is flushed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

GEMMA = "google/gemma-3-270m"


def test_sigterm_mid_stream_ends_it_with_an_error_event_flushes_usage_and_logs_no_traceback(
    hub_home: Path, admin_headers: dict[str, str]
) -> None:
    port = free_port()
    log_path = hub_home / f"shutdown-{port}.log"
    env = {**os.environ, "HUBSERVE_HOME": str(hub_home), "HUBSERVE_SHUTDOWN_GRACE_S": "3"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hubserve.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        load = httpx.post(f"{url}/api/models/{GEMMA}/load", headers=admin_headers, timeout=180)
        load.raise_for_status()
        body = {"model": GEMMA, "prompt": "Once upon a time", "max_tokens": 1500, "stream": True}
        body["ignore_eos"] = True
        lines: list[str] = []
        with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
            request_id = response.headers["x-request-id"]
            for line in response.iter_lines():
                if line:
                    lines.append(line)
                if len(lines) == 3:
                    proc.send_signal(signal.SIGTERM)
                    signalled = time.monotonic()
        ended_s = time.monotonic() - signalled
        assert proc.wait(timeout=30) == -signal.SIGTERM  # uvicorn re-raises the signal once it is done
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[-1] == "data: [DONE]"
    assert "shutting_down" in lines[-2], lines[-3:]
    assert len(lines) > 10, "the stream ran on during the grace"
    assert 2.5 < ended_s < 10, ended_s
    text = log_path.read_text()
    assert "Traceback" not in text and "CancelledError" not in text, text[-3000:]
    with sqlite3.connect(hub_home / "accounts.db") as db:
        (status,) = db.execute(
            "SELECT status FROM usage_records WHERE request_id = ?", (request_id,)
        ).fetchone()
    assert status == 503
