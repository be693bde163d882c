"""Runners hold only their runtime's libraries: a spare none, an ONNX encoder's no torch, a GGUF one no torch.

Read from each runner's ``/proc/PID/maps``, for the pids ``/api/ps`` names (a spare is a child of the
server that serves no model).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import GEMMA, MINILM, RAMPART, running_server

# Each runtime's shared objects: llama.cpp is libllama (llama-cpp-python) or xllamacpp's one extension.
LIBRARIES = {"torch": ("libtorch",), "onnxruntime": ("onnxruntime",), "llama.cpp": ("libllama", "xllamacpp.")}


def mapped(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name, markers in LIBRARIES.items() if any(m in maps for m in markers)}


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}/maps").exists()


@pytest.fixture(scope="module")
def lean(hub_home: Path) -> Iterator[tuple[str, int]]:
    with running_server(hub_home, HUBSERVE_HOLD_COLD_REQUESTS_S="180") as (url, proc):
        yield url, proc.pid


def runner_of(url: str, headers: dict[str, str], model: str) -> int:
    ps = httpx.get(f"{url}/api/ps", headers=headers, timeout=30).json()
    (pid,) = [r["pid"] for m in ps["models"] if m["model"] == model for r in m["runners"]]
    return int(pid)


def call(url: str, headers: dict[str, str], model: str, body: dict[str, object]) -> None:
    held = {**headers, "X-Wait-For-Model": "true"}
    httpx.post(f"{url}/models/{model}", json=body, headers=held, timeout=180).raise_for_status()


def unload(url: str, headers: dict[str, str], model: str) -> None:
    httpx.post(f"{url}/api/models/{model}/unload", headers=headers, timeout=60).raise_for_status()


def test_an_idle_spare_maps_no_runtime(lean: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, server_pid = lean
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ps = httpx.get(f"{url}/api/ps", headers=admin_headers, timeout=30).json()
        if ps["startup_s"] == 0:
            break
        time.sleep(0.2)
    # A runner that was just unloaded may still be on its way out: give it a few seconds to go.
    deadline = time.monotonic() + 10
    while True:
        ps = httpx.get(f"{url}/api/ps", headers=admin_headers, timeout=30).json()
        serving = {r["pid"] for m in ps["models"] for r in m["runners"]}
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
        spares = {int(c): mapped(int(c)) for c in children if int(c) not in serving and alive(int(c))}
        if (spares and all(libs == set() for libs in spares.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert spares, "no spare runner"
    assert all(libs == set() for libs in spares.values()), spares


def test_onnx_encoders_never_map_torch(lean: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, _ = lean
    call(url, admin_headers, RAMPART, {"inputs": "My name is John Smith"})
    assert mapped(runner_of(url, admin_headers, RAMPART)) == {"onnxruntime"}
    # MiniLM ships transformers weights: the first load anywhere exports them to ONNX (with torch);
    # every load after that reads the export, and its runner has no torch.
    call(url, admin_headers, MINILM, {"inputs": "warm the export"})
    unload(url, admin_headers, MINILM)
    call(url, admin_headers, MINILM, {"inputs": "served from the export"})
    assert mapped(runner_of(url, admin_headers, MINILM)) == {"onnxruntime"}


def test_a_gguf_generator_maps_llama_cpp_only(lean: tuple[str, int], admin_headers: dict[str, str]) -> None:
    url, _ = lean
    call(
        url, admin_headers, GEMMA, {"inputs": "The capital of France is", "parameters": {"max_new_tokens": 2}}
    )
    assert mapped(runner_of(url, admin_headers, GEMMA)) == {"llama.cpp"}
