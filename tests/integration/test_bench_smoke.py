"""``make bench-smoke``: every benchmark suite runs through the report harness, peers and all, tiny counts.

The figures mean nothing at these counts; what is checked is that each suite still runs end to end
against its peers (installed into their own venvs by ``scripts/bench-peers.sh``), and that the report
holds every suite's figures, the machine and the settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.report import SUITES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def test_every_suite_runs_and_the_report_holds_it(wrk: None, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run([str(ROOT / "scripts" / "bench-peers.sh")], cwd=ROOT, env=env, check=True, timeout=1800)
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    failed = {name: entry.get("error") for name, entry in report["suites"].items() if "error" in entry}
    assert done.returncode == 0 and not failed, failed or done.stderr[-3000:]
    assert set(report["suites"]) == set(SUITES) and report["mode"] == "smoke"
    assert report["machine"]["cores"] == os.cpu_count() and report["machine"]["packages"]["hubserve"]
    suites = report["suites"]
    chat = suites["chat"]["figures"]
    assert all(
        row["streams_cut_short"] == 0
        for side in ("hubserve_llama_cpp_python", "llama_server")
        for row in chat[side].values()
    )
    gateway = suites["gateway"]["figures"]
    assert (
        gateway["bare_starlette"]["requests_per_s"] > 0 and gateway["hubserve_cached"]["requests_per_s"] > 0
    )
    peers = suites["embeddings_peers"]["figures"]["16_tokens"]["4_clients"]
    assert peers["infinity_per_s"] > 0 and peers["hubserve_hf_vs_infinity"] > 0
    markdown = (tmp_path / "report.md").read_text()
    assert all(f"## {name}" in markdown for name in SUITES)
    assert report["machine"]["cpu"] in markdown
