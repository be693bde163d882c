"""What every runtime gives a task: a tokenizer, the model config, and ``forward`` over numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """A loaded network: named int64 inputs in, named float outputs out."""

    input_names: tuple[str, ...]

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
    config: dict[str, Any] = field(default_factory=dict)
    one_time_s: float = 0.0  # set by the runtime: time spent on work later loads skip (ONNX export)


@dataclass
class LoadedEncoder:
    """A tokenizer plus a session for one (model, head): what the tasks run on."""

    spec: LoadSpec
    runtime: str
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    session: Session
    max_length: int
    memo: dict[str, Any] = field(default_factory=dict)  # task-derived facts computed once per load

    @property
    def config(self) -> dict[str, Any]:
        """The model's config.json."""
        return self.spec.config

    def forward(self, encoding: dict[str, Any]) -> dict[str, Array]:
        """Feed a tokenizer batch (padded numpy arrays) to the network."""
        feed = {}
        for name in self.session.input_names:
            if name in encoding:
                feed[name] = np.asarray(encoding[name], dtype=np.int64)
            elif name == "token_type_ids":
                feed[name] = np.zeros_like(np.asarray(encoding["input_ids"], dtype=np.int64))
        return self.session.run(feed)


class Runtime(Protocol):
    """A backend that turns a LoadSpec into a Session."""

    name: str
    formats: tuple[str, ...]

    def available(self) -> bool:
        """Whether its libraries are installed."""

    def load(self, spec: LoadSpec) -> Session:
        """Load the weights for ``spec.head``."""
