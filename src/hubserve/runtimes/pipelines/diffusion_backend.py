"""Text-to-image on diffusers: any pipeline ``AutoPipelineForText2Image`` loads from a local folder, on CPU.

Each call may pick another scheduler from the pipeline's compatible ones (its class name); the pipeline's
own is put back after the call. A step callback reports progress and stops the run when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubserve.errors import UnknownOption, ValidationFailed
from hubserve.runtimes.pipelines.base import PipelineSpec

StepCallback = Callable[[int, int], bool]  # (steps done, steps in all) -> go on


@dataclass(frozen=True)
class ImageRequest:
    """One image to draw."""

    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    steps: int
    guidance_scale: float | None
    seed: int
    scheduler: str | None = None


class Diffusion:
    """A diffusers text-to-image pipeline folder (``model_index.json`` and its parts)."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image

        torch.set_num_threads(spec.threads)
        self._pipe = AutoPipelineForText2Image.from_pretrained(str(spec.files_dir), torch_dtype=torch.float32)
        self._pipe.set_progress_bar_config(disable=True)
        self._scheduler = self._pipe.scheduler
        unet = getattr(self._pipe, "unet", None) or getattr(self._pipe, "transformer", None)
        sample = int(getattr(unet.config, "sample_size", 64)) if unet is not None else 64
        latent = int(getattr(self._pipe, "vae_scale_factor", 8))
        self.default_size: int = sample * latent
        # Sides are multiples of the latent scale, and of 8 at least (diffusers checks that itself).
        self.scale: int = max(8, latent)
        self.schedulers: tuple[str, ...] = tuple(
            sorted({cls.__name__ for cls in self._scheduler.compatibles} | {type(self._scheduler).__name__})
        )

    def draw(self, request: ImageRequest, on_step: StepCallback) -> tuple[Any, str]:
        """One PIL image and the scheduler that made it; ``on_step`` returning False stops the run."""
        import torch

        self._pipe.scheduler = scheduler = self._pick_scheduler(request.scheduler)

        def callback(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if not on_step(step + 1, request.steps):
                pipe._interrupt = True  # diffusers' own stop flag: the loop ends after this step
            return tensors

        kwargs: dict[str, Any] = {}
        if request.guidance_scale is not None:
            kwargs["guidance_scale"] = request.guidance_scale
        try:
            with torch.inference_mode():
                out = self._pipe(
                    request.prompt,
                    negative_prompt=request.negative_prompt,
                    width=request.width,
                    height=request.height,
                    num_inference_steps=request.steps,
                    generator=torch.Generator().manual_seed(request.seed),
                    callback_on_step_end=callback,
                    **kwargs,
                )
        except ValueError as exc:  # diffusers' own checks of the arguments (sizes, prompt lengths)
            raise ValidationFailed(f"The pipeline refused the request: {exc}") from None
        finally:
            self._pipe.scheduler = self._scheduler
        if getattr(self._pipe, "_interrupt", False):
            self._pipe._interrupt = False
            raise InterruptedError("the image was cancelled")
        return out.images[0], type(scheduler).__name__

    def _pick_scheduler(self, name: str | None) -> Any:
        if name is None or name == type(self._scheduler).__name__:
            return self._scheduler
        for cls in self._scheduler.compatibles:
            if cls.__name__ == name:
                return cls.from_config(self._scheduler.config)
        raise UnknownOption(f"Unknown scheduler {name!r}; this model takes: {', '.join(self.schedulers)}")

    def close(self) -> None:
        """Let the pipeline go."""
        del self._pipe
