"""SIGTERM during a stream: the stream gets its grace, then a final error event; usage is flushed."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from tests.conftest import running_server

GEMMA = "google/gemma-3-270m"


def test_sigterm_mid_stream_ends_it_with_an_error_event_flushes_usage_and_logs_no_traceback(
    hub_home: Path, admin_headers: dict[str, str]
) -> None:
    with running_server(hub_home, HUBSERVE_SHUTDOWN_GRACE_S="3", HUBSERVE_LOG_LEVEL="info") as (url, proc):
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
    assert lines[-1] == "data: [DONE]"
    assert "shutting_down" in lines[-2], lines[-3:]
    assert len(lines) > 10, "the stream ran on during the grace"
    assert 2.5 < ended_s < 10, ended_s
    text = (hub_home / f"server-{urlparse(url).port}.log").read_text()
    assert "shutting down: in-flight requests have 3s to finish" in text
    assert "Traceback" not in text and "CancelledError" not in text, text[-3000:]
    with sqlite3.connect(hub_home / "accounts.db") as db:
        query = "SELECT status FROM usage_records WHERE request_id = ?"
        (status,) = db.execute(query, (request_id,)).fetchone()
    assert status == 503
