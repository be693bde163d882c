"""The runtime registry: which backends exist, which model formats each runs, and how one is chosen."""

from __future__ import annotations

import json

from hubserve.errors import ModelLoadFailed, UnknownOption
from hubserve.runtimes.base import LoadedEncoder, LoadSpec, Runtime
from hubserve.runtimes.onnx_backend import OnnxRuntime
from hubserve.runtimes.tokenization import load_tokenizer, max_input_tokens
from hubserve.runtimes.torch_backend import TorchRuntime

# Order is preference for "auto": ONNX Runtime first on CPU.
RUNTIMES: dict[str, Runtime] = {"onnx": OnnxRuntime(), "torch": TorchRuntime()}
RUNTIME_CHOICES = ("auto", *RUNTIMES)


def choose_runtime(fmt: str, preference: str) -> Runtime:
    """The runtime for a model format: the preferred one if it can run it, else the first that can."""
    if preference not in RUNTIME_CHOICES:
        raise UnknownOption(f"Unknown runtime {preference!r}; valid: {', '.join(RUNTIME_CHOICES)}")
    candidates = [r for r in RUNTIMES.values() if fmt in r.formats and r.available()]
    if preference != "auto":
        chosen = RUNTIMES[preference]
        if chosen in candidates:
            return chosen
        raise ModelLoadFailed(f"Runtime {preference!r} cannot run {fmt!r} models here")
    if not candidates:
        raise ModelLoadFailed(f"No installed runtime runs {fmt!r} models; install hubserve[onnx] or [torch]")
    if fmt == "transformers" and not RUNTIMES["torch"].available():
        # Exporting transformers weights to ONNX needs torch too.
        raise ModelLoadFailed("transformers-format models need torch installed (pip install hubserve[torch])")
    return candidates[0]


def load_encoder(spec: LoadSpec, preference: str) -> LoadedEncoder:
    """Load tokenizer and network for one (model, head) on the chosen runtime."""
    runtime = choose_runtime(spec.fmt, preference)
    tokenizer = load_tokenizer(spec.files_dir)
    session = runtime.load(spec)
    st_config = spec.files_dir / "sentence_bert_config.json"
    st_max = json.loads(st_config.read_text()).get("max_seq_length") if st_config.is_file() else None
    return LoadedEncoder(
        spec=spec,
        runtime=runtime.name,
        tokenizer=tokenizer,
        session=session,
        max_length=max_input_tokens(tokenizer, spec.config, st_max),
    )
