"""image-classification, object-detection, image-to-text and audio-classification: a file in, labels out.

huggingface_hub sends the file as the body (or base64 JSON with parameters); answers are HF's:
``[{"label", "score"}]`` best first, ``[{"label", "score", "box": {"xmin", "ymin", "xmax", "ymax"}}]``, and
``[{"generated_text"}]``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hubserve.errors import InvalidImage
from hubserve.runtimes.pipelines.image_to_text import ImageCaptioner
from hubserve.runtimes.pipelines.transformers_tasks import TransformersTask
from hubserve.tasks.audio_codec import decode
from hubserve.tasks.base import Prepared, StrictParams
from hubserve.tasks.image_codec import open_image
from hubserve.tasks.pipeline import FileTask, Loaded, decode_base64_audio, decode_base64_file


class ClassifyParams(StrictParams):
    """HF's classification parameters."""

    top_k: int | None = Field(default=None, ge=1, le=1000)
    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = None


class DetectParams(StrictParams):
    """HF's object-detection parameter: the lowest score a box is kept with."""

    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


def _image_bytes(inputs: Any) -> bytes:
    return decode_base64_file(inputs, "image", InvalidImage)


def _classify_options(params: ClassifyParams) -> dict[str, Any]:
    options: dict[str, Any] = {"top_k": params.top_k or 5}
    if params.function_to_apply is not None:
        options["function_to_apply"] = params.function_to_apply
    return options


def _scored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"label": str(r["label"]), "score": float(r["score"])} for r in rows]


class ImageClassification(FileTask[ClassifyParams]):
    """The labels of one image, best first."""

    name = "image-classification"
    params_model = ClassifyParams

    file_bytes = staticmethod(_image_bytes)

    def compute(self, loaded: Loaded, request: Prepared[ClassifyParams]) -> list[dict[str, Any]]:
        """``[{"label", "score"}]``."""
        model: TransformersTask = loaded.model
        image = open_image(_image_bytes(request.inputs), loaded.max_image_pixels)
        return _scored(model(image, **_classify_options(request.params)))


class ObjectDetection(FileTask[DetectParams]):
    """The objects in one image, with their boxes in pixels."""

    name = "object-detection"
    params_model = DetectParams

    file_bytes = staticmethod(_image_bytes)

    def compute(self, loaded: Loaded, request: Prepared[DetectParams]) -> list[dict[str, Any]]:
        """``[{"label", "score", "box"}]``, best first."""
        model: TransformersTask = loaded.model
        image = open_image(_image_bytes(request.inputs), loaded.max_image_pixels)
        rows = model(image, threshold=request.params.threshold)
        found = [
            {
                "label": str(r["label"]),
                "score": float(r["score"]),
                "box": {k: int(r["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")},
            }
            for r in rows
        ]
        return sorted(found, key=lambda r: -r["score"])


class CaptionParams(StrictParams):
    """How long a caption may be."""

    max_new_tokens: int | None = Field(default=None, ge=1, le=256)


class ImageToText(FileTask[CaptionParams]):
    """A text for one image (a caption, or what the model was trained to read from it)."""

    name = "image-to-text"
    params_model = CaptionParams

    file_bytes = staticmethod(_image_bytes)

    def compute(self, loaded: Loaded, request: Prepared[CaptionParams]) -> list[dict[str, str]]:
        """``[{"generated_text"}]``."""
        model: ImageCaptioner = loaded.model
        image = open_image(_image_bytes(request.inputs), loaded.max_image_pixels)
        return [{"generated_text": model.caption(image, max_new_tokens=request.params.max_new_tokens)}]


class AudioClassification(FileTask[ClassifyParams]):
    """The labels of one audio clip, best first."""

    name = "audio-classification"
    params_model = ClassifyParams

    file_bytes = staticmethod(decode_base64_audio)

    def compute(self, loaded: Loaded, request: Prepared[ClassifyParams]) -> list[dict[str, Any]]:
        """``[{"label", "score"}]``."""
        model: TransformersTask = loaded.model
        samples = decode(decode_base64_audio(request.inputs), model.sampling_rate, loaded.max_audio_s)
        clip = {"raw": samples, "sampling_rate": model.sampling_rate}
        return _scored(model(clip, **_classify_options(request.params)))
