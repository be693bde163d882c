"""Whisper (and other speech-to-text models) on transformers: the ASR pipeline, long audio in 30 s chunks."""

from __future__ import annotations

from typing import Any

from hubserve.runtimes.pipelines.base import (
    PipelineSpec,
    Samples,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)

CHUNK_S = 30  # Whisper's window: longer audio is cut into windows that overlap by the pipeline's stride


class TransformersSpeech:
    """A transformers speech-to-text model folder (WhisperForConditionalGeneration and kin)."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from transformers import pipeline

        torch.set_num_threads(spec.threads)
        self._pipe = pipeline(
            "automatic-speech-recognition", model=str(spec.files_dir), device="cpu", chunk_length_s=CHUNK_S
        )
        self.sampling_rate: int = int(self._pipe.feature_extractor.sampling_rate)
        generation = getattr(self._pipe.model, "generation_config", None)
        self.multilingual: bool = bool(getattr(generation, "is_multilingual", False))

    def transcribe(self, samples: Samples, options: TranscribeOptions) -> Transcript:
        """Transcribe with segment timestamps (word timestamps when asked)."""
        generate: dict[str, Any] = {}
        if options.language is not None and self.multilingual:
            generate["language"] = options.language
        if options.temperature is not None:
            generate.update(temperature=options.temperature, do_sample=options.temperature > 0)
        if options.num_beams is not None:
            generate["num_beams"] = options.num_beams
        if options.max_new_tokens is not None:
            generate["max_new_tokens"] = options.max_new_tokens
        duration = len(samples) / self.sampling_rate
        out = self._pipe(
            {"raw": samples, "sampling_rate": self.sampling_rate},
            return_timestamps="word" if options.word_timestamps else True,
            generate_kwargs=generate,
        )
        text = str(out["text"]).strip()
        spans = []
        for chunk in out.get("chunks") or []:
            start, end = chunk["timestamp"]
            end = (
                duration if end is None else min(float(end), duration)
            )  # a window's end can pass the audio's
            spans.append((round(min(float(start or 0.0), end), 3), round(end, 3)))
        pieces = [str(chunk["text"]) for chunk in out.get("chunks") or []]
        if options.word_timestamps:  # the chunks are words: one segment holds them all
            words = [Word(s, e, w) for (s, e), w in zip(spans, pieces, strict=True)]
            segments = [Segment(0.0, round(duration, 3), text)]
        else:
            words = None
            segments = [Segment(s, e, t) for (s, e), t in zip(spans, pieces, strict=True)]
        return Transcript(text, options.language or "en", round(duration, 3), segments, words)

    def close(self) -> None:
        """Let the model go."""
        del self._pipe
