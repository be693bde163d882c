"""Load a text-generation model: pick the backend for its format, wrap it in a batching engine."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from hubserve.errors import ModelLoadFailed, TaskNotSupported
from hubserve.runtimes.generation.api import TokenGenerator
from hubserve.runtimes.generation.base import GenerationBackend
from hubserve.runtimes.generation.constraints import GrammarCompiler, Matcher
from hubserve.runtimes.generation.engine import GenerationEngine
from hubserve.types.generation import Constraint, SamplingParams, TokenEvent


@dataclass(frozen=True)
class GenerationSpec:
    """Where the weights are and how much the engine may hold."""

    model_id: str
    files_dir: Path
    fmt: str
    threads: int
    max_slots: int
    context_per_slot: int
    gguf_engine: str = "auto"


def _gguf_file(spec: GenerationSpec) -> Path:
    files = sorted(spec.files_dir.glob("*.gguf"))
    if not files:
        raise ModelLoadFailed(f"No .gguf file in {spec.model_id}")
    return files[0]


def gguf_engine(asked: str) -> str:
    """The GGUF engine to use: the one asked for, or for ``auto`` the first of GGUF_ENGINES installed."""
    installed = [e for e in GGUF_ENGINES if importlib.util.find_spec(GGUF_MODULES[e]) is not None]
    if asked == "auto" and installed:
        return installed[0]
    if asked in installed:
        return asked
    missing = GGUF_MODULES.get(asked, " or ".join(GGUF_MODULES.values()))
    raise ModelLoadFailed(
        f"The GGUF engine {asked!r} is not installed (no module {missing}): pip install "
        "'hubserve[xllamacpp]' (prebuilt), or llama-cpp-python (scripts/llama-wheel.sh builds it)"
    )


def _llama_cpp_python(spec: GenerationSpec) -> GenerationBackend:
    from hubserve.runtimes.generation.llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(
        _gguf_file(spec),
        threads=spec.threads,
        max_slots=spec.max_slots,
        context_per_slot=spec.context_per_slot,
    )


def _transformers(spec: GenerationSpec) -> GenerationBackend:
    from hubserve.runtimes.generation.transformers_backend import TransformersBackend

    return TransformersBackend(spec.files_dir, threads=spec.threads, max_slots=spec.max_slots)


# Formats whose tokens hubserve's own engine decodes, over a logits-level backend.
BACKENDS: dict[str, Callable[[GenerationSpec], GenerationBackend]] = {
    "gguf": _llama_cpp_python,
    "transformers": _transformers,
}
# GGUF engines, preferred first: hubserve's engine over llama-cpp-python (built for this CPU: bench/chat.py
# measured it 1.05-1.35x llama.cpp's own server in tokens/s), then llama.cpp's server engine (xllamacpp's
# prebuilt wheels: nothing to compile, and CUDA, ROCm, Vulkan and Metal builds).
GGUF_ENGINES = ("llama-cpp-python", "llama-server")
GGUF_MODULES = {"llama-server": "xllamacpp", "llama-cpp-python": "llama_cpp"}


class LazyGrammars:
    """Builds a backend's grammar vocabulary index on the first constrained request, then reuses it."""

    def __init__(self, backend: GenerationBackend) -> None:
        self._backend = backend
        self._compiler: GrammarCompiler | None = None
        self._lock = threading.Lock()

    def matcher(self, constraint: Constraint) -> Matcher:
        """A fresh matcher for one sequence."""
        with self._lock:
            if self._compiler is None:
                backend = self._backend
                stops = sorted(backend.eos_token_ids)
                self._compiler = GrammarCompiler(backend.grammar_vocab(), backend.vocab_size, stops)
        return self._compiler.matcher(constraint)


class EngineGenerator:
    """A TokenGenerator made of a logits-level backend and hubserve's batching engine over it."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.engine = engine
        backend = engine.backend
        self.name = backend.name
        self.context_length = backend.context_length
        self.template = backend.chat_template()
        self.special_tokens = backend.special_tokens()

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text``."""
        return self.engine.backend.tokenize(text, add_special=add_special)

    def token_text(self, token_id: int) -> str:
        """The text one token adds."""
        return self.engine.backend.token_bytes(token_id).decode(errors="replace")

    def stream(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[TokenEvent]:
        """Token events of one sequence, decoded in the engine's batch."""
        return self.engine.stream(prompt, params)

    def load(self) -> tuple[int, int]:
        """(sequences running, sequences waiting)."""
        return self.engine.load

    def close(self) -> None:
        """Stop the engine and free the backend."""
        self.engine.close()
        close = getattr(self.engine.backend, "close", None)
        if callable(close):
            close()


def load_generator(spec: GenerationSpec) -> TokenGenerator:
    """Load the weights and start the engine that will decode them."""
    if spec.fmt not in BACKENDS:
        raise TaskNotSupported(
            f"No text-generation backend for {spec.fmt!r} models; valid: {', '.join(BACKENDS)}"
        )
    if spec.fmt == "gguf" and gguf_engine(spec.gguf_engine) == "llama-server":
        from hubserve.runtimes.generation.llama_server import LlamaServerGenerator

        return LlamaServerGenerator(
            _gguf_file(spec),
            threads=spec.threads,
            max_slots=spec.max_slots,
            context_per_slot=spec.context_per_slot,
        )
    backend = BACKENDS[spec.fmt](spec)
    return EngineGenerator(GenerationEngine(backend, matcher_factory=LazyGrammars(backend).matcher))
