"""summarization, translation and text2text-generation: texts in, one generated text each out.

Answers are HF's: ``[{"summary_text"}]``, ``[{"translation_text"}]`` and ``[{"generated_text"}]``, one per
input. Generation settings go under ``generate_parameters`` (HF's name; ``generation_parameters`` too).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field

from hubserve.runtimes.pipelines.base import TextToText
from hubserve.tasks.base import CallContext, Prepared, StrictParams, text_list
from hubserve.tasks.pipeline import Loaded, PipelineTask

# Each task's answer key: [{"summary_text"}], [{"translation_text"}], [{"generated_text"}].
RESULT_KEYS = {
    "summarization": "summary_text",
    "translation": "translation_text",
    "text2text-generation": "generated_text",
}
Truncation = Literal["do_not_truncate", "longest_first", "only_first", "only_second"]
MAX_NEW_TOKENS = 1024


class GenerateParameters(StrictParams):
    """The generate() settings one request may choose; bounded so no request runs without end."""

    max_length: int | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    max_new_tokens: int | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    min_length: int | None = Field(default=None, ge=0, le=MAX_NEW_TOKENS)
    min_new_tokens: int | None = Field(default=None, ge=0, le=MAX_NEW_TOKENS)
    num_beams: int | None = Field(default=None, ge=1, le=8)
    do_sample: bool | None = None
    temperature: float | None = Field(default=None, gt=0.0, le=5.0)
    top_k: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0)
    no_repeat_ngram_size: int | None = Field(default=None, ge=0)
    length_penalty: float | None = None
    early_stopping: bool | None = None


class TextToTextParams(StrictParams):
    """HF's parameters for the text-to-text tasks."""

    clean_up_tokenization_spaces: bool | None = None
    truncation: Truncation | None = None
    generate_parameters: GenerateParameters | None = Field(
        default=None, validation_alias=AliasChoices("generate_parameters", "generation_parameters")
    )


class TranslationParams(TextToTextParams):
    """Translation's also name the languages (multilingual models: ``en_XX``, ``fra_Latn``, …)."""

    src_lang: str | None = Field(default=None, max_length=32)
    tgt_lang: str | None = Field(default=None, max_length=32)


class TextToTextTask(PipelineTask[TextToTextParams]):
    """One generated text per input text."""

    params_model: ClassVar[type[TextToTextParams]] = TextToTextParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A text or a list of texts."""
        return text_list(inputs, ctx)

    def compute(self, loaded: Loaded, request: Prepared[TextToTextParams]) -> list[dict[str, str]]:
        """``[{"<task>_text": ...}]``, one per input, in order."""
        model: TextToText = loaded.model
        params = request.params
        options: dict[str, Any] = {"task": self.name}
        generate = params.generate_parameters
        if generate is not None:
            options.update(generate.model_dump(exclude_none=True))
        if params.clean_up_tokenization_spaces is not None:
            options["clean_up_tokenization_spaces"] = params.clean_up_tokenization_spaces
        truncation = params.truncation or "do_not_truncate"
        options["truncation"] = False if truncation == "do_not_truncate" else truncation
        for name in ("src_lang", "tgt_lang"):
            value = getattr(params, name, None)
            if value is not None:
                options[name] = value
        key = RESULT_KEYS[self.name]
        return [{key: text} for text in model.generate(list(request.inputs), options)]


class Summarization(TextToTextTask):
    """Summarize each text."""

    name = "summarization"


class Translation(TextToTextTask):
    """Translate each text (to ``tgt_lang`` on a multilingual model)."""

    name = "translation"
    params_model = TranslationParams


class Text2TextGeneration(TextToTextTask):
    """Generate from each text as the model was trained to (T5's prompts)."""

    name = "text2text-generation"
