"""Which llama.cpp engine serves a GGUF model: the one asked for, or the first installed; else an error."""

from __future__ import annotations

import importlib.util

import pytest

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.generation import loader


def installed(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name in loader.GGUF_MODULES.values():
            return object() if name in modules else None
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_auto_prefers_llama_cpp_python_then_xllamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, "llama_cpp", "xllamacpp")
    assert loader.gguf_engine("auto") == "llama-cpp-python"
    assert loader.gguf_engine("llama-server") == "llama-server"
    installed(monkeypatch, "xllamacpp")
    assert loader.gguf_engine("auto") == "llama-server"


def test_an_engine_that_is_not_installed_is_a_load_error_that_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed(monkeypatch, "llama_cpp")
    with pytest.raises(ModelLoadFailed, match=r"'llama-server' is not installed \(no module xllamacpp\)"):
        loader.gguf_engine("llama-server")
    installed(monkeypatch)
    with pytest.raises(ModelLoadFailed, match="hubserve\\[xllamacpp\\]"):
        loader.gguf_engine("auto")
