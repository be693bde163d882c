"""Text-to-speech on transformers' ``text-to-audio`` pipeline: VITS models (MMS-TTS and kin), one voice."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hubserve.runtimes.pipelines.base import PipelineSpec, Samples

VOICE = "default"


class TransformersVoice:
    """A transformers text-to-speech model; ``speed`` sets VITS's speaking rate for the call."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from transformers import pipeline

        torch.set_num_threads(spec.threads)
        self._pipe = pipeline("text-to-audio", model=str(spec.files_dir), device="cpu")
        self.sample_rate: int = int(self._pipe.sampling_rate)
        self.voices: tuple[str, ...] = (VOICE,)

    def synthesize(self, text: str, *, voice: str, speed: float) -> Samples:
        """The whole text at once."""
        import torch

        model = self._pipe.model
        rate = getattr(model, "speaking_rate", None)
        if rate is not None:
            model.speaking_rate = speed
        try:
            with torch.inference_mode():
                out = self._pipe(text)
        finally:
            if rate is not None:
                model.speaking_rate = rate
        return np.asarray(out["audio"], dtype=np.float32).reshape(-1)

    def stream(self, text: str, *, voice: str, speed: float) -> Iterator[Samples]:
        """One piece: VITS speaks a text whole."""
        yield self.synthesize(text, voice=voice, speed=speed)

    def close(self) -> None:
        """Let the model go."""
        del self._pipe
