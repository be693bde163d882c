"""Inference Endpoints against the serverless route: the same model, server and load generator, same run.

Run: ``python bench/endpoints.py [--rounds N] [--seconds S] [--clients C]``. On MiniLM it measures:

- start: seconds from ``POST /v2/endpoint`` to ``readyReplica == 1`` (an endpoint's runner is a spare
  process when one is ready, a fresh one with ``model.env``), beside the serverless cold start of the same
  model (a request held with ``X-Wait-For-Model`` on an unloaded model);
- throughput: one sentence per request from ``wrk`` (64 connections), on ``/models/{id}`` and on the
  endpoint's URL (one replica on all cores, ``x2`` here, as the serverless runner's threads), in
  alternating rounds (serverless, endpoint, serverless, …), with the ratio per pair; then the endpoint as
  2 replicas of ``x1`` (one core, one compute thread each);
- rollover: seconds from a ``PUT`` that changes ``model.env`` until the endpoint is ``running`` on its new
  runners, and the status codes of the requests sent meanwhile (all must be 200).

Results go to stdout and ``bench/results/endpoints.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from typing import Any

import httpx

from bench.common import BenchServer, hubserve_server, save_results, sentences
from bench.embeddings import IMPORT, MODEL, _wrk_run

NAMESPACE = "bench"  # the account bench.common creates
NAME = "minilm"
SPARE_REFILL_S = 8.0  # a spare runner is started 2 s after a start and takes ~3 s: each start gets one


def _body(replicas: int, env: dict[str, str] | None = None, size: str = "x1") -> dict[str, Any]:
    model: dict[str, Any] = {"repository": MODEL, "framework": "pytorch", "task": "feature-extraction"}
    if env is not None:
        model["env"] = env
    return {
        "name": NAME,
        "type": "authenticated",
        "provider": {"vendor": "local", "region": "local"},
        "compute": {
            "accelerator": "cpu",
            "instanceType": "local-cpu",
            "instanceSize": size,
            "scaling": {"minReplica": replicas, "maxReplica": replicas},
        },
        "model": model,
    }


def _until(server: BenchServer, check: Any, timeout_s: float = 300.0) -> float:
    """Seconds until ``check(endpoint json)`` holds, polling every 50 ms."""
    started = time.perf_counter()
    url = f"{server.url}/v2/endpoint/{NAMESPACE}/{NAME}"
    while True:
        raw = httpx.get(url, headers=server.headers, timeout=30).json()
        if check(raw):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"timed out waiting for the endpoint: {raw['status']}")
        time.sleep(0.05)


def _running(replicas: int) -> Any:
    def check(raw: dict[str, Any]) -> bool:
        status = raw["status"]
        return bool(status["state"] == "running" and status["readyReplica"] >= replicas)

    return check


def _serverless_cold_start(server: BenchServer) -> float:
    httpx.post(
        f"{server.url}/api/models/{MODEL}/unload", headers=server.headers, timeout=60
    ).raise_for_status()
    time.sleep(SPARE_REFILL_S)
    started = time.perf_counter()
    answer = httpx.post(
        f"{server.url}/models/{MODEL}",
        json={"inputs": "cold"},
        headers={**server.headers, "X-Wait-For-Model": "true", "X-Use-Cache": "false"},
        timeout=300,
    )
    answer.raise_for_status()
    return time.perf_counter() - started


def _rollover(server: BenchServer, seconds_cap: float = 120.0) -> dict[str, Any]:
    url = f"{server.url}/endpoints/{NAMESPACE}/{NAME}"
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(headers={**server.headers, "X-Use-Cache": "false"}, timeout=60) as client:
            deadline = time.monotonic() + seconds_cap
            while not stop.is_set() and time.monotonic() < deadline:
                statuses.append(client.post(url, json={"inputs": "during the rollover"}).status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        time.sleep(0.5)
        started = time.perf_counter()
        changed = httpx.put(
            f"{server.url}/v2/endpoint/{NAMESPACE}/{NAME}",
            json={"model": {"env": {"BENCH_GENERATION": "2"}}},
            headers=server.headers,
            timeout=60,
        )
        changed.raise_for_status()
        # The PUT starts the rollover before it answers: 'updating' until the new runner serves.
        _until(server, _running(1))
        seconds = time.perf_counter() - started
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    return {
        "seconds_to_running": round(seconds, 2),
        "requests_during": len(statuses),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    texts = sentences(512)
    with hubserve_server([IMPORT]) as server:
        httpx.post(
            f"{server.url}/api/accounts", json={"name": NAMESPACE, "kind": "org"}, headers=server.headers
        )
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "settings": {
                "model": MODEL,
                "clients": args.clients,
                "seconds": args.seconds,
                "rounds": args.rounds,
            },
        }
        cold = [_serverless_cold_start(server) for _ in range(args.rounds)]
        starts: dict[str, list[float]] = {"spare": [], "with_env": []}
        for _ in range(args.rounds):
            for kind, env in (("spare", None), ("with_env", {"BENCH": "1"})):
                time.sleep(SPARE_REFILL_S)
                created = httpx.post(
                    f"{server.url}/v2/endpoint/{NAMESPACE}",
                    json=_body(1, env),
                    headers=server.headers,
                    timeout=60,
                )
                created.raise_for_status()
                starts[kind].append(_until(server, _running(1)))
                httpx.delete(
                    f"{server.url}/v2/endpoint/{NAMESPACE}/{NAME}", headers=server.headers, timeout=120
                ).raise_for_status()
        results["start_s"] = {
            "serverless_cold_start_median": round(statistics.median(cold), 2),
            "endpoint_create_to_running_median": round(statistics.median(starts["spare"]), 2),
            "endpoint_with_env_to_running_median": round(statistics.median(starts["with_env"]), 2),
            "ratio_endpoint_to_serverless": round(
                statistics.median(starts["spare"]) / statistics.median(cold), 2
            ),
            "all": {"serverless": [round(c, 2) for c in cold]}
            | {k: [round(v, 2) for v in vs] for k, vs in starts.items()},
        }
        whole = f"x{len(os.sched_getaffinity(0))}"  # one replica on all cores, as the serverless runner
        httpx.post(
            f"{server.url}/v2/endpoint/{NAMESPACE}",
            json=_body(1, size=whole),
            headers=server.headers,
            timeout=60,
        ).raise_for_status()
        _until(server, _running(1))
        time.sleep(SPARE_REFILL_S)  # the spare that replaces the one it took starts: let it finish first
        path = f"/endpoints/{NAMESPACE}/{NAME}"
        _wrk_run(server.url, texts, args.clients, 3, server.token)  # warm-up, not counted
        pairs = []
        for _ in range(args.rounds):
            serverless = _wrk_run(server.url, texts, args.clients, args.seconds, server.token)
            endpoint = _wrk_run(server.url, texts, args.clients, args.seconds, server.token, path=path)
            pairs.append(
                (serverless["sentences_per_s"], endpoint["sentences_per_s"], endpoint["latency_p50_ms"])
            )
        results["one_replica_all_cores"] = {
            "serverless_per_s": [p[0] for p in pairs],
            "endpoint_per_s": [p[1] for p in pairs],
            "endpoint_p50_ms": [p[2] for p in pairs],
            "ratio_endpoint_to_serverless_median": round(statistics.median(p[1] / p[0] for p in pairs), 3),
        }
        httpx.put(
            f"{server.url}/v2/endpoint/{NAMESPACE}/{NAME}",
            json={"compute": {"instanceSize": "x1", "scaling": {"minReplica": 2, "maxReplica": 2}}},
            headers=server.headers,
            timeout=60,
        ).raise_for_status()
        _until(server, _running(2))
        time.sleep(SPARE_REFILL_S)
        two = [
            _wrk_run(server.url, texts, args.clients, args.seconds, server.token, path=path)[
                "sentences_per_s"
            ]
            for _ in range(args.rounds)
        ]
        one = statistics.median(results["one_replica_all_cores"]["endpoint_per_s"])
        results["two_replicas_x1"] = {
            "endpoint_per_s": two,
            "ratio_to_one_replica_all_cores_median": round(statistics.median(two) / one, 3),
        }
        httpx.put(
            f"{server.url}/v2/endpoint/{NAMESPACE}/{NAME}",
            json={"compute": {"scaling": {"minReplica": 1, "maxReplica": 1}}},
            headers=server.headers,
            timeout=60,
        ).raise_for_status()
        results["rollover"] = _rollover(server)
    save_results("endpoints", results)


if __name__ == "__main__":
    main()
