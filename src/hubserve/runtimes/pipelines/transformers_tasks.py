"""Image and audio classification and object detection on transformers' own pipelines for those tasks."""

from __future__ import annotations

from typing import Any

from hubserve.runtimes.pipelines.base import PipelineSpec


class TransformersTask:
    """One transformers pipeline: image-classification, object-detection or audio-classification."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from transformers import pipeline

        torch.set_num_threads(spec.threads)
        self._pipe = pipeline(spec.task, model=str(spec.files_dir), device="cpu")
        extractor = getattr(self._pipe, "feature_extractor", None)
        self.sampling_rate: int = int(getattr(extractor, "sampling_rate", 16000) or 16000)
        self.labels: tuple[str, ...] = tuple(str(v) for v in self._pipe.model.config.id2label.values())

    def __call__(self, inputs: Any, **options: Any) -> list[dict[str, Any]]:
        """The pipeline's answer for one image (a PIL image) or one clip (``{"raw", "sampling_rate"}``)."""
        import torch

        with torch.inference_mode():
            out = self._pipe(inputs, **options)
        return list(out)

    def close(self) -> None:
        """Let the model go."""
        del self._pipe
