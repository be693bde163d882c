"""Whisper on CTranslate2 through faster-whisper: int8 on CPU, on the runner's threads."""

from __future__ import annotations

from hubserve.runtimes.pipelines.base import (
    PipelineSpec,
    Samples,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)


class FasterWhisper:
    """A CTranslate2 Whisper model (a folder with model.bin, config.json, tokenizer.json)."""

    def __init__(self, spec: PipelineSpec) -> None:
        from faster_whisper import WhisperModel

        # int8 weights with float32 activations: the fastest CPU path, and what the model folders ship.
        self._model = WhisperModel(
            str(spec.files_dir), device="cpu", compute_type="int8", cpu_threads=spec.threads, num_workers=1
        )
        self.sampling_rate: int = self._model.feature_extractor.sampling_rate
        self.multilingual: bool = bool(self._model.model.is_multilingual)

    def transcribe(self, samples: Samples, options: TranscribeOptions) -> Transcript:
        """Transcribe the samples; segments are collected here (faster-whisper yields them lazily)."""
        kwargs: dict[str, object] = {}
        if options.temperature is not None:
            kwargs["temperature"] = options.temperature  # one value: no fallback ladder
        if options.num_beams is not None:
            kwargs["beam_size"] = options.num_beams
        if options.max_new_tokens is not None:
            kwargs["max_new_tokens"] = options.max_new_tokens
        pieces, info = self._model.transcribe(
            samples,
            language=options.language,
            initial_prompt=options.prompt or None,
            word_timestamps=options.word_timestamps,
            **kwargs,
        )
        segments: list[Segment] = []
        words: list[Word] = []
        for piece in pieces:
            segments.append(
                Segment(
                    start=round(piece.start, 3),
                    end=round(piece.end, 3),
                    text=piece.text,
                    avg_logprob=piece.avg_logprob,
                    no_speech_prob=piece.no_speech_prob,
                    compression_ratio=piece.compression_ratio,
                    temperature=piece.temperature,
                    tokens=tuple(piece.tokens),
                )
            )
            words.extend(Word(round(w.start, 3), round(w.end, 3), w.word) for w in piece.words or [])
        return Transcript(
            text="".join(s.text for s in segments).strip(),
            language=info.language,
            duration=round(info.duration, 3),
            segments=segments,
            words=words if options.word_timestamps else None,
        )

    def close(self) -> None:
        """CTranslate2 frees the model when it is collected."""
        del self._model
