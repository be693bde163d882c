"""Which pipeline runtime loads a (task, format), and the tasks that run on pipelines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.pipelines.base import PipelineSpec
from hubserve.runtimes.pipelines.diffusion_backend import Diffusion
from hubserve.runtimes.pipelines.faster_whisper_backend import FasterWhisper
from hubserve.runtimes.pipelines.image_to_text import ImageCaptioner
from hubserve.runtimes.pipelines.piper_backend import PiperSpeech
from hubserve.runtimes.pipelines.seq2seq_backend import Seq2Seq
from hubserve.runtimes.pipelines.transformers_tasks import TransformersTask
from hubserve.runtimes.pipelines.transformers_tts import TransformersVoice
from hubserve.runtimes.pipelines.transformers_whisper import TransformersSpeech

PIPELINE_RUNTIMES: dict[tuple[str, str], Callable[[PipelineSpec], Any]] = {
    ("automatic-speech-recognition", "ctranslate2"): FasterWhisper,
    ("automatic-speech-recognition", "transformers"): TransformersSpeech,
    ("text-to-speech", "piper"): PiperSpeech,
    ("text-to-speech", "transformers"): TransformersVoice,
    ("text-to-image", "diffusers"): Diffusion,
    ("image-classification", "transformers"): TransformersTask,
    ("object-detection", "transformers"): TransformersTask,
    ("image-to-text", "transformers"): ImageCaptioner,
    ("audio-classification", "transformers"): TransformersTask,
    ("summarization", "transformers"): Seq2Seq,
    ("translation", "transformers"): Seq2Seq,
    ("text2text-generation", "transformers"): Seq2Seq,
}
PIPELINE_TASKS = frozenset(task for task, _ in PIPELINE_RUNTIMES)


def load_pipeline(spec: PipelineSpec) -> Any:
    """The loaded pipeline for the spec's task and format; ModelLoadFailed names what would run it."""
    make = PIPELINE_RUNTIMES.get((spec.task, spec.fmt))
    if make is None:
        formats = sorted(fmt for task, fmt in PIPELINE_RUNTIMES if task == spec.task)
        raise ModelLoadFailed(
            f"No runtime serves {spec.task} on {spec.fmt!r} models; formats it takes: {', '.join(formats)}"
        )
    return make(spec)
