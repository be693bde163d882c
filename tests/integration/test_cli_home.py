"""``hubserve --home X serve`` serves X's hub in the gateway and in every runner it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port


def test_home_on_the_command_line_reaches_the_runners(hub_home: Path, tmp_path: Path) -> None:
    port = free_port()
    elsewhere = tmp_path / "another-home"  # what the environment says; the runners must not read it
    env = {**os.environ, "HUBSERVE_HOME": str(elsewhere), "HUBSERVE_LOG_LEVEL": "warning"}
    log = (tmp_path / "server.log").open("w")
    cmd = [sys.executable, "-m", "hubserve.cli.main", "--home", str(hub_home), "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        wait = {"X-Wait-For-Model": "true"}
        r = httpx.post(
            f"{url}/models/test/tiny-cls", json={"inputs": "i love pizza"}, headers=wait, timeout=120
        )
        assert r.status_code == 200, (r.text, (tmp_path / "server.log").read_text()[-2000:])
        assert {c["label"] for c in r.json()[0]} == {"POSITIVE", "NEGATIVE"}
        assert not (elsewhere / "hub" / "models").exists() or not any(
            (elsewhere / "hub" / "models").iterdir()
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
