"""fill-mask: the most likely tokens for each mask token in the input."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from hubserve.errors import ValidationFailed
from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import CallContext, Prepared, StrictParams, Task, softmax, text_list, tokenize


class FillMaskParams(StrictParams):
    """How many candidates per mask, optionally restricted to ``targets``."""

    top_k: int = Field(default=5, ge=1)
    targets: list[str] | None = None

    @field_validator("targets", mode="before")
    @classmethod
    def _one_target(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class FillMask(Task[FillMaskParams]):
    """Masked-language-model predictions."""

    name = "fill-mask"
    head = "masked-lm"
    params_model = FillMaskParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A string or a list of strings (each must hold the mask token; checked at run time)."""
        return text_list(inputs, ctx)

    def run(self, model: LoadedEncoder, request: Prepared[FillMaskParams]) -> Any:
        """For one mask: ``[{score, token, token_str, sequence}]``; for several: one such list per mask."""
        tokenizer = model.tokenizer
        mask_id = tokenizer.mask_token_id
        if mask_id is None:
            raise ValidationFailed("This model's tokenizer has no mask token")
        for text in request.inputs:
            if tokenizer.mask_token not in text:
                raise ValidationFailed(
                    f"No mask token ({tokenizer.mask_token}) found in the input", param="inputs"
                )
        encoding = tokenize(model, request.inputs, truncate=False)
        logits = model.forward(encoding)["logits"].astype(np.float64)
        target_ids = _target_ids(model, request.params.targets)
        results = []
        for row, ids in enumerate(encoding["input_ids"]):
            length = int(encoding["attention_mask"][row].sum())
            ids = ids[:length]
            positions = np.nonzero(ids == mask_id)[0]
            per_mask = [
                _candidates(
                    model,
                    ids,
                    int(pos),
                    softmax(logits[row, pos]),
                    target_ids,
                    request.params.top_k,
                    single=len(positions) == 1,
                )
                for pos in positions
            ]
            results.append(per_mask[0] if len(per_mask) == 1 else per_mask)
        return results[0] if request.single else results


def _target_ids(model: LoadedEncoder, targets: list[str] | None) -> Array | None:
    if targets is None:
        return None
    vocab = model.tokenizer.get_vocab()
    ids = []
    for target in targets:
        if target in vocab:
            ids.append(vocab[target])
            continue
        pieces = model.tokenizer(target, add_special_tokens=False)["input_ids"]
        if pieces:
            ids.append(pieces[0])
    if not ids:
        raise ValidationFailed("None of the targets is in the model's vocabulary", param="targets")
    return np.unique(np.asarray(ids))


def _candidates(
    model: LoadedEncoder,
    ids: Array,
    position: int,
    probs: Array,
    target_ids: Array | None,
    top_k: int,
    *,
    single: bool,
) -> list[dict[str, Any]]:
    pool = target_ids if target_ids is not None else np.arange(probs.shape[0])
    best = pool[np.argsort(-probs[pool], kind="stable")[:top_k]]
    out = []
    for token_id in best:
        filled = ids.copy()
        filled[position] = token_id
        out.append(
            {
                "score": float(probs[token_id]),
                "token": int(token_id),
                "token_str": model.tokenizer.decode([int(token_id)]),
                "sequence": model.tokenizer.decode(filled.tolist(), skip_special_tokens=single),
            }
        )
    return out
