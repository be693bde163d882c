"""Shared benchmark plumbing: a hubserve server on loopback with a throwaway hub, and sentence sets."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

WORDS = (
    "account billing cancel subscription invoice refund password reset login error payment card "
    "delivery order tracking address change plan upgrade downgrade support agent chat email phone "
    "how do i can you please why is my the a to for with on not working help need want update"
).split()


def sentences(count: int, seed: int = 0) -> list[str]:
    """Deterministic support-desk style sentences of 6 to 20 words."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 20))).capitalize() + "?" for _ in range(count)]


def save_results(name: str, results: dict[str, Any]) -> None:
    """Print the results and keep them in ``bench/results/NAME.json`` (or under $HUBSERVE_BENCH_RESULTS)."""
    text = json.dumps(results, indent=2)
    print(text)
    folder = os.environ.get("HUBSERVE_BENCH_RESULTS") or Path(__file__).parent / "results"
    out = Path(folder) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class BenchServer:
    """A running hubserve and an administrator's token on an unlimited tier."""

    url: str
    token: str
    home: str  # the data folder: its accounts.db holds the usage records

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of every benchmark request."""
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def hubserve_server(imports: list[list[str]], env: dict[str, str] | None = None) -> Iterator[BenchServer]:
    """Import models into a temporary hub, start ``hubserve serve``, yield it with a token, stop it."""
    with tempfile.TemporaryDirectory(prefix="hubserve-bench-") as home:
        base_env = {**os.environ, "HUBSERVE_HOME": home, "HUBSERVE_LOG_LEVEL": "warning", **(env or {})}
        cli = [sys.executable, "-m", "hubserve.cli.main"]
        for args in imports:
            subprocess.run([*cli, "import", *args], env=base_env, check=True, stdout=subprocess.DEVNULL)
        created = subprocess.run(
            [*cli, "user", "create", "bench", "--admin", "--tier", "unlimited", "--token"],
            env=base_env,
            check=True,
            capture_output=True,
            text=True,
        )
        token = created.stdout.strip().splitlines()[-1]
        port = free_port()
        log = Path(home) / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*cli, "serve", "--port", str(port)], env=base_env, stdout=out, stderr=out
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_healthy(url, proc, log)
                yield BenchServer(url, token, home)
            finally:
                proc.terminate()
                proc.wait(timeout=30)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    wait_ready(url, proc, lambda u: httpx.get(f"{u}/health", timeout=1).status_code == 200, 60, log.read_text)


def wait_ready(
    url: str,
    proc: subprocess.Popen[Any],
    ready: Callable[[str], bool],
    timeout_s: float,
    log: Callable[[], str],
) -> None:
    """Poll ``ready(url)`` until it holds; the process's log in the error if it exits or times out first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log()[-3000:]}")
        try:
            if ready(url):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} was not ready in {timeout_s:.0f} s: {log()[-3000:]}")


@contextmanager
def serving(
    cmd: list[str],
    url: str,
    ready: Callable[[str], bool],
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """Run a peer's server process until ``ready`` holds, yield its URL, and terminate it afterwards."""
    with tempfile.TemporaryFile() as log:

        def text() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=cwd)
        try:
            wait_ready(url, proc, ready, timeout_s, text)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def child_pids(parent: int) -> list[int]:
    """The server's runner processes: with every model unloaded, the spares."""
    return [int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]


def server_pid(server: BenchServer) -> int:
    """The pid of the server process (the one whose environment names this bench's home)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"serve" in cmdline and f"HUBSERVE_HOME={server.home}".encode() in environ:
            return int(proc.name)
    raise RuntimeError("no server process found")


def tree_rss_bytes(pid: int) -> int:
    """The resident memory of a process and its children together (the server: gateway and runners)."""
    from hubserve.procfs import rss_bytes

    return sum(rss_bytes(p) or 0 for p in [pid, *child_pids(pid)])


def run_wrk(url: str, script: str, connections: int, seconds: int, *options: str) -> str:
    """wrk's report of one run of ``script`` (Lua) against ``url``: one C thread, latency percentiles."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *options]
        return subprocess.run(
            [*command, "-s", lua.name, url], capture_output=True, text=True, check=True
        ).stdout


def wrk_rate(out: str) -> float:
    """Requests per second in a wrk report."""
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"no rate in wrk's report: {out[-500:]}")
    return float(found.group(1))


def wrk_latency_ms(out: str, pct: str) -> float | None:
    """A latency percentile (``"50"``, ``"99"``) of a wrk report, in milliseconds."""
    found = re.search(rf"{pct}%\s+([\d.]+)(us|ms|s)\b", out)
    if not found:
        return None
    return round(float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)], 2)
