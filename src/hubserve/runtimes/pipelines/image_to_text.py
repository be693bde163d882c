"""Image captioning on transformers: a VisionEncoderDecoder (or image-text-to-text) model generates the text.

transformers 5 has no ``image-to-text`` pipeline: the processor, ``generate`` and the tokenizer's decode are
called here, as that pipeline did.
"""

from __future__ import annotations

from typing import Any

from hubserve.runtimes.pipelines.base import PipelineSpec


class ImageCaptioner:
    """One image-to-text model folder."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        torch.set_num_threads(spec.threads)
        self._processor = AutoImageProcessor.from_pretrained(spec.files_dir)
        self._tokenizer = AutoTokenizer.from_pretrained(spec.files_dir)
        self._model = VisionEncoderDecoderModel.from_pretrained(spec.files_dir).eval()

    def caption(self, image: Any, *, max_new_tokens: int | None) -> str:
        """The model's text for one RGB image."""
        import torch

        pixels = self._processor(images=image, return_tensors="pt")
        extra = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
        with torch.inference_mode():
            ids = self._model.generate(**pixels, **extra)
        return str(self._tokenizer.batch_decode(ids, skip_special_tokens=True)[0]).strip()

    def close(self) -> None:
        """Let the model go."""
        del self._model
