"""Runner memory: each default model's runner RSS against its weights, and an idle spare runner's.

Run: ``python -m bench.memory [--rounds N]``. A server starts on a fresh hub with the default encoders and
generators; for each model, in turns, one request loads it and a few more warm it, then the RSS of its
runner (the pid ``/api/ps`` names, read from ``/proc``) is taken, and the model is unloaded. The spare's RSS
is read once no model is loaded and its start-up is done. Also which of torch, onnxruntime and llama.cpp
each runner has mapped (``/proc/PID/maps``), since a runner should hold only its runtime's libraries.
Results go to stdout and ``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.coldstart import MODELS
from bench.common import BenchServer, child_pids, hubserve_server, save_results, server_pid
from hubserve.procfs import rss_bytes

LIBRARIES = {"torch": "libtorch", "onnxruntime": "onnxruntime", "llama.cpp": "libllama"}
MB = 1024 * 1024


def libraries(pid: int) -> list[str]:
    """The runtime libraries mapped into a process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, marker in LIBRARIES.items() if marker in maps]


def weights_bytes(server: BenchServer, model: str) -> int:
    """The size of the model's files in the hub."""
    files = Path(server.home) / "hub" / "models" / model / "files"
    return sum(p.stat().st_size for p in files.rglob("*") if p.is_file())


def runner_pids(server: BenchServer, model: str) -> list[int]:
    ps = httpx.get(f"{server.url}/api/ps", headers=server.headers, timeout=30).json()
    return [r["pid"] for m in ps["models"] if m["model"] == model for r in m["runners"] if r["pid"]]


def measure_model(server: BenchServer, model: str, body: dict[str, Any]) -> dict[str, Any]:
    hold = {**server.headers, "X-Wait-For-Model": "true", "X-Use-Cache": "false"}
    url = f"{server.url}/models/{model}"
    for i in range(5):
        extra = {"inputs": f"{body['inputs']} {i}"}
        httpx.post(url, json={**body, **extra}, headers=hold, timeout=300).raise_for_status()
    (pid,) = runner_pids(server, model)
    rss = rss_bytes(pid) or 0
    libs = libraries(pid)
    httpx.post(f"{server.url}/api/models/{model}/unload", headers=server.headers, timeout=60)
    return {"rss_mb": round(rss / MB, 1), "libraries": libs}


def main() -> None:
    """Measure each default model's runner and the spare; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="*", help="models to measure (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    models = {m: s for m, s in MODELS.items() if not args.models or m in args.models}
    with hubserve_server([[*m["import"], "--as", name] for name, m in models.items()]) as server:
        pid = server_pid(server)
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in models}
        spares: list[float] = []
        export: dict[str, float] = {}
        for model, spec in models.items():
            # The first load of a transformers folder exports it to ONNX (with torch, in that runner):
            # a one-time cost, reported apart; the measured rounds load the cached export, as every later
            # start does.
            export[model] = measure_model(server, model, spec["body"])["rss_mb"]
        for _ in range(args.rounds):
            for model, spec in models.items():
                runs[model].append(measure_model(server, model, spec["body"]))
            time.sleep(5.0)  # the spare started after the last load has done its imports
            for spare in child_pids(pid):
                spares.append(round((rss_bytes(spare) or 0) / MB, 1))
        results: dict[str, Any] = {"rounds": args.rounds, "models": {}}
        for model, samples in runs.items():
            rss = [s["rss_mb"] for s in samples]
            weights = weights_bytes(server, model) / MB
            results["models"][model] = {
                "weights_mb": round(weights, 1),
                "rss_mb_median": statistics.median(rss),
                "rss_mb_spread": [min(rss), max(rss)],
                "over_weights_mb": round(statistics.median(rss) - weights, 1),
                "first_load_rss_mb": export[model],
                "libraries": samples[-1]["libraries"],
            }
        results["spare_rss_mb_median"] = statistics.median(spares) if spares else None
        results["spare_rss_mb_spread"] = [min(spares), max(spares)] if spares else None
    save_results("memory", results)


if __name__ == "__main__":
    main()
