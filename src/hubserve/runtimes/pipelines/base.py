"""What a pipeline runtime is given to load, and the interfaces the speech and text-to-text tasks run on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PipelineSpec:
    """One model to load as a pipeline: its files, format, task and the threads it may use."""

    model_id: str
    files_dir: Path
    fmt: str
    task: str
    threads: int
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Segment:
    """One stretch of a transcript, with its times in seconds."""

    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Word:
    """One word of a transcript with its times, when word timestamps were asked for."""

    start: float
    end: float
    word: str


@dataclass(frozen=True)
class Transcript:
    """What a speech recogniser heard."""

    text: str
    language: str
    duration: float
    segments: list[Segment]
    words: list[Word] | None = None


@dataclass(frozen=True)
class TranscribeOptions:
    """How to transcribe: language (None: detect), prompt, sampling, and which timestamps to return."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    num_beams: int | None = None
    max_new_tokens: int | None = None
    word_timestamps: bool = False


class SpeechRecognizer(Protocol):
    """Audio samples at ``sampling_rate`` in, a transcript out."""

    sampling_rate: int
    multilingual: bool

    def transcribe(self, samples: Samples, options: TranscribeOptions) -> Transcript:
        """Transcribe mono float32 samples."""

    def close(self) -> None:
        """Free what the model holds."""


class SpeechSynthesizer(Protocol):
    """Text in, mono float32 samples at ``sample_rate`` out, in one of ``voices``."""

    sample_rate: int
    voices: tuple[str, ...]  # its speakers' names; one name for a single-voice model

    def synthesize(self, text: str, *, voice: str, speed: float) -> Samples:
        """Speak ``text``; ``speed`` 1.0 is the voice's own pace."""

    def stream(self, text: str, *, voice: str, speed: float) -> Iterator[Samples]:
        """Speak ``text`` a piece (a sentence) at a time."""

    def close(self) -> None:
        """Free what the model holds."""


class TextToText(Protocol):
    """Texts in, generated texts out (summaries, translations, text2text)."""

    def generate(self, texts: list[str], options: dict[str, Any]) -> list[str]:
        """One output per input; ``options`` are the task's checked parameters."""

    def close(self) -> None:
        """Free what the model holds."""
