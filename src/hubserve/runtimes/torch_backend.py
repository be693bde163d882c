"""PyTorch/transformers runtime: loads safetensors or .bin weights with the AutoModel class of the head."""

from __future__ import annotations

import importlib.util
from typing import Any

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.base import HEAD_OUTPUTS, Array, Head, LoadSpec, Session

AUTO_CLASSES: dict[Head, str] = {
    "base": "AutoModel",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "masked-lm": "AutoModelForMaskedLM",
    "question-answering": "AutoModelForQuestionAnswering",
}


def load_torch_module(spec: LoadSpec) -> Any:
    """The transformers module for ``spec.head``, in eval mode."""
    import transformers

    auto = getattr(transformers, AUTO_CLASSES[spec.head])
    try:
        model = auto.from_pretrained(str(spec.files_dir))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadFailed(f"transformers could not load {spec.model_id} as {spec.head}: {exc}") from exc
    return model.eval()


class TorchSession:
    """Runs a transformers module under ``torch.inference_mode``, one forward at a time on all threads."""

    parallel = 1

    def __init__(self, module: Any, outputs: tuple[str, ...], input_names: tuple[str, ...]) -> None:
        self._module = module
        self._outputs = outputs
        self.input_names = input_names

    def run(self, inputs: dict[str, Array]) -> dict[str, Array]:
        """Run one padded batch and return the head's outputs as float32 numpy arrays."""
        import torch

        with torch.inference_mode():
            result = self._module(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        return {name: result[name].float().numpy() for name in self._outputs}


class TorchRuntime:
    """transformers on PyTorch (CPU threads capped at the configured count)."""

    name: str = "torch"
    formats: tuple[str, ...] = ("transformers",)

    def available(self) -> bool:
        """Whether torch is installed."""
        return importlib.util.find_spec("torch") is not None

    def load(self, spec: LoadSpec) -> Session:
        """Load the weights for the head."""
        import torch

        torch.set_num_threads(spec.threads)
        module = load_torch_module(spec)
        return TorchSession(module, HEAD_OUTPUTS[spec.head], forward_inputs(module))


def forward_inputs(module: Any) -> tuple[str, ...]:
    """Which of the usual encoder inputs the module's forward takes."""
    import inspect

    params = inspect.signature(module.forward).parameters
    return tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params)
