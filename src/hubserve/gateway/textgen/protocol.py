"""TGI request parameters, validated as TGI validates them, and turned into sampling parameters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hubserve.errors import ValidationFailed
from hubserve.tasks.base import Options
from hubserve.types.generation import MAX_SEED, Constraint, SamplingParams

DEFAULT_MAX_NEW_TOKENS = 100


class Grammar(BaseModel):
    """``{"type": "json" | "json_schema" | "regex", "value": ...}``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["json", "json_object", "json_schema", "regex"]
    value: Any = None


class TGIParameters(BaseModel):
    """The ``parameters`` object of TGI's ``/generate`` and of huggingface_hub's text_generation."""

    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, gt=0)
    top_k: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    typical_p: float | None = Field(default=None, gt=0, le=1)
    repetition_penalty: float | None = Field(default=None, gt=0)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    do_sample: bool = False
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    stop: list[str] = Field(default_factory=list, max_length=8)
    stop_sequences: list[str] = Field(default_factory=list, max_length=8)
    return_full_text: bool | None = None
    details: bool = False
    decoder_input_details: bool = False
    top_n_tokens: int | None = Field(default=None, ge=0, le=20)
    truncate: int | None = Field(default=None, ge=1)
    grammar: Grammar | None = None
    best_of: int | None = Field(default=None, ge=1)
    watermark: bool = False
    adapter_id: str | None = None

    @field_validator("stop", "stop_sequences", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def unsupported(self) -> None:
        """Refuse features hubserve does not implement, rather than ignore them."""
        if self.typical_p not in (None, 1.0):
            raise ValidationFailed("typical_p is not supported", param="parameters.typical_p")
        if self.best_of not in (None, 1):
            raise ValidationFailed("best_of > 1 is not supported", param="parameters.best_of")
        if self.watermark:
            raise ValidationFailed("watermark is not supported", param="parameters.watermark")
        if self.adapter_id:
            raise ValidationFailed("adapters are not supported", param="parameters.adapter_id")

    def sampling(self) -> SamplingParams:
        """The engine's sampling parameters (greedy unless ``do_sample`` or a sampling knob is set)."""
        self.unsupported()
        sample = self.do_sample or any(v is not None for v in (self.temperature, self.top_k, self.top_p))
        return SamplingParams(
            max_new_tokens=self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            temperature=self.temperature if self.temperature is not None else 1.0,
            top_k=self.top_k or 0,
            top_p=self.top_p if self.top_p is not None else 1.0,
            do_sample=sample,
            repetition_penalty=self.repetition_penalty or 1.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            seed=self.seed,
            stop=tuple(s for s in [*self.stop, *self.stop_sequences] if s),
            logprobs=self.top_n_tokens or 0,
            constraint=grammar_constraint(self.grammar),
        )


def grammar_constraint(grammar: Grammar | None) -> Constraint | None:
    """TGI's grammar object as an engine constraint."""
    if grammar is None:
        return None
    if grammar.type == "regex":
        if not isinstance(grammar.value, str) or not grammar.value:
            raise ValidationFailed(
                "A regex grammar needs a non-empty string value", param="parameters.grammar"
            )
        return Constraint("regex", grammar.value)
    if grammar.value in (None, {}):
        return Constraint("json")
    if not isinstance(grammar.value, dict | str):
        raise ValidationFailed(
            "A json grammar's value must be a JSON schema object", param="parameters.grammar"
        )
    return Constraint("json_schema", grammar.value)


class GenerateRequest(BaseModel):
    """The body of ``/generate`` and ``/generate_stream``."""

    model_config = ConfigDict(extra="forbid")
    inputs: str = Field(min_length=1)
    parameters: TGIParameters = Field(default_factory=TGIParameters)
    stream: bool = False
    options: Options | None = None
