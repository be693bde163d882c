"""Export a transformers encoder head to ONNX once, with torch's TorchScript exporter."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.base import HEAD_OUTPUTS, LoadSpec
from hubserve.runtimes.torch_backend import forward_inputs, load_torch_module

OPSET = 17


def export_head(spec: LoadSpec, target: Path) -> None:
    """Write an ONNX graph for ``spec.head`` to ``target`` with dynamic batch and sequence axes."""
    import torch

    module = load_torch_module(spec)
    inputs = forward_inputs(module)
    outputs = HEAD_OUTPUTS[spec.head]
    wrapper = _OutputsAsTuple(module, inputs, outputs)
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, *outputs)}
    try:
        with warnings.catch_warnings():
            # Deprecated since torch 2.9 and used on purpose: the torch.export-based exporter needs
            # onnxscript and is not yet measured on these heads. Only this one warning is let through.
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                example,
                str(target),
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many kinds for unsupported graphs
        raise ModelLoadFailed(f"ONNX export of {spec.model_id} ({spec.head}) failed: {exc}") from exc


class _OutputsAsTuple:
    """Builds a torch.nn.Module that returns the head's outputs as a plain tuple."""

    def __new__(cls, module: Any, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Any:
        import torch

        class Wrapper(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.inner = module

            def forward(self, *args: Any) -> tuple[Any, ...]:
                result = self.inner(**dict(zip(inputs, args, strict=True)))
                return tuple(result[name] for name in outputs)

        return Wrapper().eval()
