"""Load a text-generation model: pick the backend for its format, wrap it in a batching engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hubserve.errors import ModelLoadFailed, TaskNotSupported
from hubserve.runtimes.generation.base import GenerationBackend
from hubserve.runtimes.generation.constraints import GrammarCompiler, Matcher
from hubserve.runtimes.generation.engine import GenerationEngine
from hubserve.types.generation import Constraint


@dataclass(frozen=True)
class GenerationSpec:
    """Where the weights are and how much the engine may hold."""

    model_id: str
    files_dir: Path
    fmt: str
    threads: int
    max_slots: int
    context_per_slot: int


def _gguf(spec: GenerationSpec) -> GenerationBackend:
    from hubserve.runtimes.generation.llamacpp_backend import LlamaCppBackend

    files = sorted(spec.files_dir.glob("*.gguf"))
    if not files:
        raise ModelLoadFailed(f"No .gguf file in {spec.model_id}")
    return LlamaCppBackend(
        files[0], threads=spec.threads, max_slots=spec.max_slots, context_per_slot=spec.context_per_slot
    )


def _transformers(spec: GenerationSpec) -> GenerationBackend:
    from hubserve.runtimes.generation.transformers_backend import TransformersBackend

    return TransformersBackend(spec.files_dir, threads=spec.threads, max_slots=spec.max_slots)


BACKENDS: dict[str, Callable[[GenerationSpec], GenerationBackend]] = {
    "gguf": _gguf,
    "transformers": _transformers,
}


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


@dataclass(frozen=True)
class LoadedGenerator:
    """A running engine plus what the routes need to build prompts for it."""

    model_id: str
    engine: GenerationEngine
    template: str | None
    special_tokens: dict[str, str]

    @property
    def backend(self) -> GenerationBackend:
        """The model backend."""
        return self.engine.backend

    def close(self) -> None:
        """Stop the engine and free the backend."""
        self.engine.close()
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()


def load_generator(spec: GenerationSpec) -> LoadedGenerator:
    """Load the weights and start the engine's worker thread."""
    if spec.fmt not in BACKENDS:
        raise TaskNotSupported(
            f"No text-generation backend for {spec.fmt!r} models; valid: {', '.join(BACKENDS)}"
        )
    backend = BACKENDS[spec.fmt](spec)
    engine = GenerationEngine(backend, matcher_factory=LazyGrammars(backend).matcher)
    return LoadedGenerator(
        model_id=spec.model_id,
        engine=engine,
        template=backend.chat_template(),
        special_tokens=backend.special_tokens(),
    )
