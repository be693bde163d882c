"""tokenize and decode: the model's own tokenizer, with no forward pass (TEI's /tokenize and /decode)."""

from __future__ import annotations

from typing import Any

from hubserve.errors import ValidationFailed
from hubserve.runtimes.base import Head, LoadedEncoder
from hubserve.tasks.base import CallContext, ParamsT, Prepared, StrictParams, Task, check_count, text_list
from hubserve.tasks.embedding import apply_prompt, embedding_config
from hubserve.types.manifest import Manifest


class TokenizerTask(Task[ParamsT]):
    """A task that needs only the model's tokenizer: it runs on the head the model loads for its own task."""

    head = "base"

    def head_for(self, manifest: Manifest) -> Head:
        """The model's own head: the runner it already has serves this too."""
        from hubserve.tasks.registry import TASKS  # the registry imports this module

        return TASKS[manifest.pipeline_tag].head_for(manifest)


class TokenizeParams(StrictParams):
    """TEI's: add the special tokens (default), and prefix a named prompt first."""

    add_special_tokens: bool = True
    prompt_name: str | None = None


class Tokenize(TokenizerTask[TokenizeParams]):
    """Each input's tokens: ``[[{id, text, special, start, stop}, ...], ...]``, offsets in UTF-8 bytes."""

    name = "tokenize"
    params_model = TokenizeParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A string or a list of strings."""
        return text_list(inputs, ctx)

    def run(self, model: LoadedEncoder, request: Prepared[TokenizeParams]) -> Any:
        """One token list per input; special tokens have no offsets, as in TEI."""
        p = request.params
        texts = request.inputs
        if p.prompt_name is not None:
            texts = apply_prompt(embedding_config(model), texts, p.prompt_name)
        encoding = model.tokenizer(
            texts,
            add_special_tokens=p.add_special_tokens,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        out = []
        for row, text in enumerate(texts):
            ids = encoding["input_ids"][row]
            offsets = encoding["offset_mapping"][row]
            special = encoding["special_tokens_mask"][row]
            pieces = model.tokenizer.convert_ids_to_tokens(ids)
            out.append(
                [
                    _token(text, i, piece, s, o)
                    for i, piece, s, o in zip(ids, pieces, special, offsets, strict=True)
                ]
            )
        return out


def _token(text: str, token_id: int, piece: str, special: int, offsets: tuple[int, int]) -> dict[str, Any]:
    if special:
        return {"id": int(token_id), "text": piece, "special": True, "start": None, "stop": None}
    start, stop = offsets
    return {
        "id": int(token_id),
        "text": text[start:stop],
        "special": False,
        "start": len(text[:start].encode()),
        "stop": len(text[:stop].encode()),
    }


class DecodeParams(StrictParams):
    """TEI's: leave the special tokens out (default)."""

    skip_special_tokens: bool = True


class Decode(TokenizerTask[DecodeParams]):
    """Token ids back to text: one string per list of ids."""

    name = "decode"
    params_model = DecodeParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A list of ids, or a non-empty list of such lists; ids are non-negative integers."""
        single = isinstance(inputs, list) and bool(inputs) and all(_is_id(x) for x in inputs)
        rows = [inputs] if single else inputs
        if not isinstance(rows, list) or not rows or not all(_id_row(r) for r in rows):
            raise ValidationFailed(
                "`ids` must be a non-empty list of token ids (integers >= 0), or a list of such lists",
                param="ids",
            )
        check_count(len(rows), ctx, "ids")
        return rows, single

    def run(self, model: LoadedEncoder, request: Prepared[DecodeParams]) -> Any:
        """One string per row; an id outside the vocabulary is an error, not an empty string."""
        size = len(model.tokenizer)
        for row in request.inputs:
            bad = next((i for i in row if i >= size), None)
            if bad is not None:
                raise ValidationFailed(f"Token id {bad} is outside the vocabulary (size {size})", param="ids")
        skip = request.params.skip_special_tokens
        return [model.tokenizer.decode(row, skip_special_tokens=skip) for row in request.inputs]


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _id_row(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_id(x) for x in value)
