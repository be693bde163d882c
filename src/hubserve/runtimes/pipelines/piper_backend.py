"""Piper voices (VITS in ONNX, phonemes from espeak-ng) through the piper-tts package."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.pipelines.base import PipelineSpec, Samples


class PiperSpeech:
    """One Piper voice: ``voice.onnx`` beside its ``voice.onnx.json`` config; several speakers or one."""

    def __init__(self, spec: PipelineSpec) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
        from piper.phonemize_espeak import ESPEAK_DATA_DIR

        configs = sorted(spec.files_dir.rglob("*.onnx.json"))
        if len(configs) != 1:
            raise ModelLoadFailed(f"{spec.model_id} must hold one Piper voice (*.onnx and *.onnx.json)")
        config = json.loads(configs[0].read_text())
        model = configs[0].with_name(configs[0].name.removesuffix(".json"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = spec.threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._voice = PiperVoice(
            session=session,
            config=PiperConfig.from_dict(config),
            espeak_data_dir=ESPEAK_DATA_DIR,
            download_dir=spec.files_dir,
        )
        self.sample_rate: int = self._voice.config.sample_rate
        speakers = config.get("speaker_id_map") or {}
        self._speakers: dict[str, int] = {str(k): int(v) for k, v in speakers.items()}
        default = configs[0].name.removesuffix(".onnx.json")
        self.voices: tuple[str, ...] = tuple(self._speakers) or (default,)

    def synthesize(self, text: str, *, voice: str, speed: float) -> Samples:
        """Each sentence in turn, joined; ``speed`` above 1 speaks faster."""
        chunks = list(self.stream(text, voice=voice, speed=speed))
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks)

    def stream(self, text: str, *, voice: str, speed: float) -> Iterator[Samples]:
        """One sentence's samples at a time, as Piper speaks them."""
        from piper.config import SynthesisConfig

        config = SynthesisConfig(speaker_id=self._speakers.get(voice), length_scale=1.0 / speed)
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield chunk.audio_float_array.astype(np.float32, copy=False)

    def close(self) -> None:
        """The ONNX session goes with the voice."""
        del self._voice
