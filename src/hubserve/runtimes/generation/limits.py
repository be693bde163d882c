"""The room a prompt leaves in a model's context: checked the same way by every generation engine."""

from __future__ import annotations

from hubserve.errors import ValidationFailed
from hubserve.types.generation import SamplingParams


def check_prompt(prompt: list[int], context_length: int, params: SamplingParams) -> int:
    """How many tokens the sequence may generate; a ValidationFailed if the prompt leaves no room."""
    if not prompt:
        raise ValidationFailed("The prompt is empty", param="inputs")
    if len(prompt) >= context_length:
        raise ValidationFailed(
            f"Input validation error: the prompt has {len(prompt)} tokens; this model takes at most "
            f"{context_length - 1} prompt tokens plus generated tokens",
            param="inputs",
        )
    return min(params.max_new_tokens, context_length - len(prompt))
