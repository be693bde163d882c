"""What every runtime gives a task: a tokenizer, the model config, and ``forward`` over numpy arrays."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Head = Literal["base", "sequence-classification", "token-classification", "masked-lm", "question-answering"]
Array = npt.NDArray[Any]

# The output names each head must produce (same names as transformers' ModelOutput fields).
HEAD_OUTPUTS: dict[Head, tuple[str, ...]] = {
    "base": ("last_hidden_state",),
    "sequence-classification": ("logits",),
    "token-classification": ("logits",),
    "masked-lm": ("logits",),
    "question-answering": ("start_logits", "end_logits"),
}


class Session(Protocol):
    """A loaded network: named int64 inputs in, named float outputs out.

    ``run`` may be called from ``parallel`` threads at once; each such forward uses one core.
    """

    input_names: tuple[str, ...]
    parallel: int

    def run(self, inputs: dict[str, Array]) -> dict[str, Array]:
        """Run one padded batch."""


@dataclass
class LoadSpec:
    """What to load: the repo's files, which head, and how many threads it may use."""

    model_id: str
    revision: str
    files_dir: Path
    fmt: str
    head: Head
    threads: int
    cache_dir: Path
    split: str = "rows"  # ONNX Runtime's threads: forwards at once ("rows") or inside each one ("ops")
    config: dict[str, Any] = field(default_factory=dict)
    one_time_s: float = 0.0  # set by the runtime: time spent on work later loads skip (ONNX export)


@dataclass
class LoadedEncoder:
    """A tokenizer plus a session for one (model, head): what the tasks run on.

    Forwards go through a pool of ``session.parallel`` threads, first come first served, so the session
    never runs more at once than it has cores for, and forwards from several requests interleave: when the
    last piece of one request runs, the next request's pieces take the other threads.
    """

    spec: LoadSpec
    runtime: str
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    session: Session
    max_length: int
    memo: dict[str, Any] = field(default_factory=dict)  # task-derived facts computed once per load
    _pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="forward")

    @property
    def config(self) -> dict[str, Any]:
        """The model's config.json."""
        return self.spec.config

    @property
    def parallel(self) -> int:
        """How many forwards the session runs at once."""
        return max(1, self.session.parallel)

    def forward(self, encoding: dict[str, Any]) -> dict[str, Array]:
        """Feed a tokenizer batch (padded numpy arrays) to the network, its rows split over the pool."""
        feed = self._feed(encoding)
        rows = min((len(v) for v in feed.values()), default=0)
        parts = min(rows, self.parallel)
        if parts <= 1:
            return self._pool.submit(self.session.run, feed).result()
        bounds = [part * rows // parts for part in range(parts + 1)]
        pieces = self._run_all([{k: v[lo:hi] for k, v in feed.items()} for lo, hi in pairwise(bounds)])
        return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}

    def forward_many(self, encodings: list[dict[str, Any]]) -> list[dict[str, Array]]:
        """One forward per tokenizer batch, spread over the pool; outputs in the same order."""
        return self._run_all([self._feed(e) for e in encodings])

    def close(self) -> None:
        """Stop the pool's threads once their work is done."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run_all(self, feeds: list[dict[str, Array]]) -> list[dict[str, Array]]:
        futures = [self._pool.submit(self.session.run, feed) for feed in feeds]
        return [f.result() for f in futures]

    def _feed(self, encoding: dict[str, Any]) -> dict[str, Array]:
        feed = {}
        for name in self.session.input_names:
            if name in encoding:
                feed[name] = np.asarray(encoding[name], dtype=np.int64)
            elif name == "token_type_ids":
                feed[name] = np.zeros_like(np.asarray(encoding["input_ids"], dtype=np.int64))
        return feed


class Runtime(Protocol):
    """A backend that turns a LoadSpec into a Session."""

    name: str
    formats: tuple[str, ...]

    def available(self) -> bool:
        """Whether its libraries are installed."""

    def load(self, spec: LoadSpec) -> Session:
        """Load the weights for ``spec.head``."""
