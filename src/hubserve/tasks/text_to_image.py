"""text-to-image: a prompt in, one image file out (PNG by default; JPEG or WebP on request).

Sizes are checked before a queue: both sides positive multiples of the model's latent scale, at most
``HUBSERVE_MAX_IMAGE_PIXELS`` in all, and at most ``HUBSERVE_MAX_IMAGE_STEPS`` steps. No seed draws one,
and the answer says which (``x-seed``), so the same image can be asked for again.
"""

from __future__ import annotations

import base64
import io
import secrets
from typing import Any, Literal

from pydantic import Field

from hubserve.errors import ImageTooLarge, ValidationFailed
from hubserve.runtimes.pipelines.diffusion_backend import Diffusion, ImageRequest
from hubserve.tasks.base import CallContext, Envelope, Prepared, StrictParams
from hubserve.tasks.pipeline import Loaded, PipelineTask

IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
ACCEPTED = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp"}
MAX_SEED = 2**63 - 1


class TextToImageParams(StrictParams):
    """HF's text-to-image parameters, plus the output ``format``."""

    negative_prompt: str | None = Field(default=None, max_length=4000)
    height: int | None = None
    width: int | None = None
    num_inference_steps: int | None = Field(default=None, ge=1)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    scheduler: str | None = Field(default=None, max_length=64)
    format: Literal["png", "jpeg", "webp"] = "png"


class TextToImage(PipelineTask[TextToImageParams]):
    """Draw one image from a prompt."""

    name = "text-to-image"
    params_model = TextToImageParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """One non-empty prompt."""
        if not isinstance(inputs, str) or not inputs.strip():
            raise ValidationFailed("`inputs` must be a non-empty string: the prompt", param="inputs")
        return inputs, True

    def prepare(self, envelope: Envelope, ctx: CallContext) -> Prepared[TextToImageParams]:
        """Sizes and steps within the server's limits, and a seed drawn when none was given."""
        prepared = super().prepare(envelope, ctx)
        params = prepared.params
        for side in ("height", "width"):
            value = getattr(params, side)
            if value is not None and value < 8:
                raise ValidationFailed(f"{side} must be at least 8 pixels, got {value}", param=side)
        if params.height and params.width and params.height * params.width > ctx.max_image_pixels:
            raise ImageTooLarge(
                f"{params.width}x{params.height} is {params.width * params.height} pixels; at most "
                f"{ctx.max_image_pixels} per image (HUBSERVE_MAX_IMAGE_PIXELS)",
                param="height",
            )
        if params.num_inference_steps is not None and params.num_inference_steps > ctx.max_image_steps:
            raise ValidationFailed(
                f"num_inference_steps is {params.num_inference_steps}; at most {ctx.max_image_steps} "
                "(HUBSERVE_MAX_IMAGE_STEPS)",
                param="num_inference_steps",
            )
        if params.seed is None:
            prepared.params = params.model_copy(update={"seed": secrets.randbelow(MAX_SEED)})
        return prepared

    def compute(self, loaded: Loaded, request: Prepared[TextToImageParams]) -> dict[str, Any]:
        """The image file in base64, with its content type, size and seed."""
        model: Diffusion = loaded.model
        params = request.params
        width = params.width or model.default_size
        height = params.height or model.default_size
        for side, value in (("width", width), ("height", height)):
            if value % model.scale:
                raise ValidationFailed(
                    f"{side} must be a multiple of {model.scale} for this model, got {value}", param=side
                )
        if width * height > loaded.max_image_pixels:
            raise ImageTooLarge(
                f"{width}x{height} is more than {loaded.max_image_pixels} pixels (HUBSERVE_MAX_IMAGE_PIXELS)"
            )
        assert params.seed is not None
        steps = params.num_inference_steps or min(loaded.max_image_steps, 25)
        image_request = ImageRequest(
            prompt=request.inputs,
            negative_prompt=params.negative_prompt,
            width=width,
            height=height,
            steps=steps,
            guidance_scale=params.guidance_scale,
            seed=params.seed,
            scheduler=params.scheduler,
        )
        image, scheduler = model.draw(image_request, loaded.on_step)
        out = io.BytesIO()
        image.convert("RGB" if params.format == "jpeg" else image.mode).save(
            out, format=params.format.upper()
        )
        return {
            "image": base64.b64encode(out.getvalue()).decode(),
            "content_type": IMAGE_TYPES[params.format],
            "width": width,
            "height": height,
            "seed": params.seed,
            "steps": steps,
            "scheduler": scheduler,
        }
