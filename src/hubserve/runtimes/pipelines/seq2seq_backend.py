"""Encoder-decoder text models (T5, BART, Marian, mBART, NLLB) on transformers: tokenize, generate, decode.

transformers 5 dropped its summarization and translation pipelines, so what they did is done here: a
T5-style model's ``task_specific_params`` give each task its prefix (``summarize: ``) and generation
defaults; a multilingual translator reads ``src_lang`` from its tokenizer and starts its output with the
``tgt_lang`` token.
"""

from __future__ import annotations

from typing import Any

from hubserve.errors import InputTooLong, UnknownOption
from hubserve.runtimes.pipelines.base import PipelineSpec

GENERATE_KEYS = frozenset(
    "max_length max_new_tokens min_length min_new_tokens num_beams do_sample temperature top_k top_p "
    "repetition_penalty no_repeat_ngram_size length_penalty early_stopping".split()
)


class Seq2Seq:
    """One seq2seq model, serving summarization, translation and text2text-generation."""

    def __init__(self, spec: PipelineSpec) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        torch.set_num_threads(spec.threads)
        self._tokenizer = AutoTokenizer.from_pretrained(spec.files_dir)
        self._model = AutoModelForSeq2SeqLM.from_pretrained(spec.files_dir)
        self._model.eval()
        self._task_params: dict[str, Any] = dict(
            getattr(self._model.config, "task_specific_params", None) or {}
        )

    def generate(self, texts: list[str], options: dict[str, Any]) -> list[str]:
        """One generated text per input, in order."""
        import torch

        task = options.pop("task")
        defaults = self._defaults(task, options)
        prefix = str(defaults.pop("prefix", "") or "")
        inputs = [prefix + text for text in texts]
        truncation = options.pop("truncation", False)
        clean = options.pop("clean_up_tokenization_spaces", None)
        generate = {k: v for k, v in defaults.items() if k in GENERATE_KEYS}
        generate.update({k: v for k, v in options.items() if k in GENERATE_KEYS})
        self._languages(options, generate)
        if truncation is False:
            self._check_lengths(inputs)
        limit = _max_positions(self._model.config, self._tokenizer)
        batch = self._tokenizer(
            inputs,
            return_tensors="pt",
            padding=True,
            truncation=truncation or False,
            max_length=limit if truncation else None,
        )
        with torch.inference_mode():
            out = self._model.generate(**batch, **generate)
        decoded = self._tokenizer.batch_decode(
            out, skip_special_tokens=True, clean_up_tokenization_spaces=clean
        )
        return [str(text).strip() for text in decoded]

    def _defaults(self, task: str, options: dict[str, Any]) -> dict[str, Any]:
        """The model's own settings for the task: ``summarization``, or ``translation_<src>_to_<tgt>``."""
        if task == "translation":
            src, tgt = options.get("src_lang"), options.get("tgt_lang")
            named = [k for k in self._task_params if k.startswith("translation")]
            key = f"translation_{src}_to_{tgt}" if src and tgt else (named[0] if len(named) == 1 else "")
            if src and tgt and named and key not in named:
                pairs = ", ".join(k.removeprefix("translation_").replace("_to_", "→") for k in named)
                raise UnknownOption(f"This model translates {pairs}; not {src}→{tgt}", param="tgt_lang")
            return dict(self._task_params.get(key) or {})
        return dict(self._task_params.get(task) or {})

    def _languages(self, options: dict[str, Any], generate: dict[str, Any]) -> None:
        """A multilingual translator: the source language on the tokenizer, the target as the first token."""
        src, tgt = options.get("src_lang"), options.get("tgt_lang")
        if src is not None and hasattr(self._tokenizer, "src_lang"):
            self._tokenizer.src_lang = src
        if tgt is not None and hasattr(self._tokenizer, "src_lang"):
            token = self._tokenizer.convert_tokens_to_ids(tgt)
            if token is None or token == self._tokenizer.unk_token_id:
                raise UnknownOption(f"Unknown tgt_lang {tgt!r} for this model", param="tgt_lang")
            generate["forced_bos_token_id"] = token

    def _check_lengths(self, texts: list[str]) -> None:
        """An input longer than the encoder's positions is a 413 (truncation turns this off), not a crash."""
        limit = _max_positions(self._model.config, self._tokenizer)
        if limit is None:
            return
        longest = max(len(ids) for ids in self._tokenizer(texts)["input_ids"])
        if longest > limit:
            raise InputTooLong(
                f"Input has {longest} tokens; this model takes at most {limit}. Shorten it, or pass "
                'truncation="longest_first"'
            )

    def close(self) -> None:
        """Let the model go."""
        del self._model


def _max_positions(config: Any, tokenizer: Any) -> int | None:
    """The encoder's longest input: its position table, else the tokenizer's limit (T5 has neither)."""
    for name in ("max_position_embeddings", "n_positions", "max_source_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None
