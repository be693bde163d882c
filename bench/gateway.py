"""Gateway overhead: hubserve answering a near no-op model against a bare Starlette app with the same JSON.

Run: ``python -m bench.gateway [--seconds S] [--rounds R] [--connections C]``. The bare app
(``bench/bare_app.py``) runs on the same uvicorn stack and answers every ``POST /models/{id}`` with the
very bytes hubserve answers. hubserve is measured twice: a cached answer (the whole gateway:
authentication, rate limits, metering and the response cache, no runner) and a tiny 2-layer BERT built
here with the cache off (the gateway, its runner hop and a ~0.3 ms forward). wrk (``-t1``,
``--connections``) alternates bare, cached and tiny, ``--rounds`` times. Reported: requests/s (median,
spread), p50/p99 latency, the p50 latency hubserve adds, and its share of the bare app's requests/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, hubserve_server, save_results, serving
from bench.embeddings_peers import wrk

TINY = "bench/tiny-embed"
TEXT = "How do I reset my password?"


@contextmanager
def bare_app(answer: bytes) -> Iterator[str]:
    """The bare Starlette app on loopback, answering ``answer``."""
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(answer)
        body.flush()
        env = {**os.environ, "BARE_ANSWER": body.name}
        cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port)]
        cmd += ["--log-level", "warning", "--no-access-log"]
        root = Path(__file__).parent.parent
        with serving(cmd, f"http://127.0.0.1:{port}", _answers, 30, env=env, cwd=root) as url:
            yield url


def _answers(url: str) -> bool:
    httpx.post(f"{url}/models/x", timeout=1)  # any answer: the app is up
    return True


def measure(tiny: Path, args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """wrk's figures for each side, round after round."""
    with hubserve_server([[str(tiny), "--as", TINY]]) as server:
        route = f"/models/{TINY}"
        held = {"X-Wait-For-Model": "true", **server.headers}
        first = httpx.post(f"{server.url}{route}", json={"inputs": TEXT}, headers=held, timeout=300)
        first.raise_for_status()
        cached = [{"inputs": TEXT}]
        fresh = [{"inputs": f"{TEXT} {i}"} for i in range(256)]
        with bare_app(first.content) as bare:
            sides = {
                "bare_starlette": (bare, cached, None, True),
                "hubserve_cached": (server.url, cached, server.token, True),
                "hubserve_tiny_model": (server.url, fresh, server.token, False),
            }
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for _ in range(args.rounds):
                for side, (url, bodies, token, cache) in sides.items():
                    runs[side].append(wrk(url, route, bodies, token, args.connections, args.seconds, cache))
    return runs


def main() -> None:
    """Measure the three sides and the overhead."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    from tests.tiny_models import build

    results: dict[str, Any] = {
        "connections": args.connections,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "load_generator": "wrk -t1",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build("embed", Path(tmp) / "tiny")
        runs = measure(tiny, args)
    for side, samples in runs.items():
        rates = [s["per_s"] for s in samples]
        results[side] = {
            "requests_per_s": round(statistics.median(rates), 1),
            "spread": [round(min(rates), 1), round(max(rates), 1)],
            "p50_ms": statistics.median(s["p50_ms"] for s in samples),
            "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        }
    bare = results["bare_starlette"]
    for side in ("hubserve_cached", "hubserve_tiny_model"):
        share = results[side]["requests_per_s"] / bare["requests_per_s"]
        results[side]["share_of_bare_requests_per_s"] = round(share, 2)
        results[side]["p50_added_ms"] = round(results[side]["p50_ms"] - bare["p50_ms"], 2)
    save_results("gateway", results)


if __name__ == "__main__":
    main()
