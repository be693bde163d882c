"""Scale with models: throughput and memory with 1, 3 and 10 small models in rotation, under a budget for 3.

Run: ``python -m bench.scale [--seconds S] [--connections C] [--models 1 3 10]``. Ten copies of a tiny
2-layer BERT (built here) are imported under different ids, and the server's memory budget is set to hold
three of them by the scheduler's own estimate. For each count, wrk sends one text per request (cache off,
``X-Wait-For-Model`` so a request for an evicted model waits for its load rather than getting 503),
each request to the next model in turn. Reported: requests/s, p50/p99, the most models resident at once,
the runner starts it took, and the runners' summed RSS at its peak against the budget.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchServer,
    child_pids,
    hubserve_server,
    run_wrk,
    save_results,
    server_pid,
    wrk_latency_ms,
    wrk_rate,
)
from hubserve.procfs import rss_bytes
from hubserve.scheduler.policy import estimate_memory

MB = 1024 * 1024
COUNTS = (1, 3, 10)
WRK = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  local headers = {["Content-Type"]="application/json", ["X-Use-Cache"]="false",
                   ["X-Wait-For-Model"]="true", ["Authorization"]="Bearer %s"}
  local body = '{"inputs": "How do I reset my password? ' .. counter .. '"}'
  return wrk.format("POST", paths[((counter - 1) %% #paths) + 1], headers, body)
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() statuses = {} end
response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
done = function()
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      io.write(string.format("status %%d %%d\\n", status, n))
    end
  end
end
"""


def _wrk(server: BenchServer, models: list[str], connections: int, seconds: int) -> dict[str, Any]:
    paths = ",".join(f'"/models/{m}"' for m in models)
    out = run_wrk(server.url, WRK % (paths, server.token), connections, seconds, "--timeout", "60s")
    statuses = {int(code): int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)}
    return {
        "requests_per_s": round(wrk_rate(out), 1),
        "p50_ms": wrk_latency_ms(out, "50"),
        "p99_ms": wrk_latency_ms(out, "99"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


class Watch:
    """Samples the resident models and the runners' summed RSS every 100 ms while a run lasts."""

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.pid = server_pid(server)
        self.resident = 0
        self.rss = 0
        self.initial = self._pids()
        self.seen = set(self.initial)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def starts(self) -> int:
        """Runner processes that served a model during the run and were not serving one before it."""
        return len(self.seen - self.initial)

    def _pids(self) -> set[int]:
        ps = httpx.get(f"{self.server.url}/api/ps", headers=self.server.headers, timeout=10).json()
        return {r["pid"] for m in ps["models"] for r in m["runners"] if r["pid"]}

    def _run(self) -> None:
        with httpx.Client(headers=self.server.headers, timeout=10) as client:
            while not self._stop.wait(0.1):
                ps = client.get(f"{self.server.url}/api/ps").json()
                self.resident = max(self.resident, sum(1 for m in ps["models"] if m["state"] == "ready"))
                self.seen |= {r["pid"] for m in ps["models"] for r in m["runners"] if r["pid"]}
                self.rss = max(self.rss, sum(rss_bytes(p) or 0 for p in child_pids(self.pid)))


def main() -> None:
    """Measure each model count under the same budget."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--models", type=int, nargs="*", default=list(COUNTS))
    args = parser.parse_args()
    from tests.tiny_models import build

    with tempfile.TemporaryDirectory() as tmp:
        tiny = build("embed", Path(tmp) / "tiny")
        size = sum(f.stat().st_size for f in tiny.rglob("*") if f.is_file())
        budget = int(3.5 * estimate_memory(size))
        names = [f"bench/tiny-{i}" for i in range(max(args.models))]
        env = {"HUBSERVE_MEMORY_BUDGET_BYTES": str(budget), "HUBSERVE_KEEP_ALIVE_S": "600"}
        results: dict[str, Any] = {
            "budget_mb": round(budget / MB),
            "estimate_per_model_mb": round(estimate_memory(size) / MB),
            "connections": args.connections,
            "seconds_per_run": args.seconds,
        }
        with hubserve_server([[str(tiny), "--as", name] for name in names], env=env) as server:
            # The first load exports the folder to ONNX (all ten share it: same files, same digest).
            hold = {"X-Wait-For-Model": "true", **server.headers}
            httpx.post(f"{server.url}/models/{names[0]}", json={"inputs": "x"}, headers=hold, timeout=300)
            httpx.post(f"{server.url}/api/models/{names[0]}/unload", headers=server.headers, timeout=60)
            for count in args.models:
                models = names[:count]
                for model in models:  # every model loaded once before the clock starts, as far as it fits
                    httpx.post(
                        f"{server.url}/models/{model}",
                        json={"inputs": "warm"},
                        headers={"X-Wait-For-Model": "true", **server.headers},
                        timeout=300,
                    ).raise_for_status()
                with Watch(server) as watch:
                    run = _wrk(server, models, args.connections, args.seconds)
                results[f"{count}_models"] = {
                    **run,
                    "most_resident": watch.resident,
                    "runner_starts": watch.starts,
                    "peak_runner_rss_mb": round(watch.rss / MB),
                }
    save_results("scale", results)


if __name__ == "__main__":
    main()
