"""token-classification: tagged spans, merged like transformers' pipeline (none/simple/first/average/max)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import (
    CallContext,
    Prepared,
    StrictParams,
    Task,
    id2label,
    softmax,
    text_list,
    tokenize,
)


class TokenClassificationParams(StrictParams):
    """How tokens are merged into entities, and which labels to drop."""

    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] = "simple"
    ignore_labels: list[str] = Field(default_factory=lambda: ["O"])


@dataclass
class Piece:
    """One token, or one word after word-level aggregation."""

    tokens: list[str]
    scores: Array  # probabilities over labels
    start: int
    end: int
    index: int
    subword: bool = False

    @property
    def best(self) -> int:
        return int(np.argmax(self.scores))


def split_tag(label: str) -> tuple[str, str]:
    """``B-PER`` → (B, PER); a label with no prefix counts as an inside tag."""
    if label[:2] in {"B-", "I-"}:
        return label[0], label[2:]
    return "I", label


def _first(word: list[Piece]) -> Array:
    return word[0].scores


def _average(word: list[Piece]) -> Array:
    out: Array = np.mean([p.scores for p in word], axis=0)
    return out


def _max(word: list[Piece]) -> Array:
    return max(word, key=lambda p: float(p.scores.max())).scores


WORD_SCORERS: dict[str, Callable[[list[Piece]], Array]] = {"first": _first, "average": _average, "max": _max}


class TokenClassification(Task[TokenClassificationParams]):
    """Named-entity style tagging."""

    name = "token-classification"
    head = "token-classification"
    params_model = TokenClassificationParams

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """A string or a list of strings."""
        return text_list(inputs, ctx)

    def run(self, model: LoadedEncoder, request: Prepared[TokenClassificationParams]) -> Any:
        """Tag every input; a single input gets a flat list of entities."""
        encoding = tokenize(
            model,
            request.inputs,
            truncate=False,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        probs = softmax(model.forward(encoding)["logits"].astype(np.float64))
        labels = id2label(model.config)
        results = [
            self._one(model, text, encoding, i, probs[i], labels, request.params)
            for i, text in enumerate(request.inputs)
        ]
        return results[0] if request.single else results

    def _one(
        self,
        model: LoadedEncoder,
        text: str,
        encoding: Any,
        row: int,
        probs: Array,
        labels: dict[int, str],
        params: TokenClassificationParams,
    ) -> list[dict[str, Any]]:
        pieces = _pieces(model, text, encoding, row, probs)
        strategy = params.aggregation_strategy
        if strategy == "none":
            out = [
                {
                    "entity": labels[p.best],
                    "score": float(p.scores[p.best]),
                    "index": p.index,
                    "word": p.tokens[0],
                    "start": p.start,
                    "end": p.end,
                }
                for p in pieces
            ]
            return [e for e in out if e["entity"] not in params.ignore_labels]
        if strategy != "simple":
            pieces = _words(pieces, WORD_SCORERS[strategy])
        groups = _group(pieces, labels)
        entities = [_entity(model, g, labels) for g in groups]
        return [e for e in entities if e["entity_group"] not in params.ignore_labels]


def _pieces(model: LoadedEncoder, text: str, encoding: Any, row: int, probs: Array) -> list[Piece]:
    ids = encoding["input_ids"][row]
    special = encoding["special_tokens_mask"][row]
    offsets = encoding["offset_mapping"][row]
    word_ids = encoding.word_ids(row)
    tokenizer = model.tokenizer
    pieces: list[Piece] = []
    previous_word: int | None = None
    for idx, token_id in enumerate(ids):
        if special[idx] or encoding["attention_mask"][row][idx] == 0:
            continue
        start, end = int(offsets[idx][0]), int(offsets[idx][1])
        token = tokenizer.convert_ids_to_tokens(int(token_id))
        subword = word_ids[idx] is not None and word_ids[idx] == previous_word
        if int(token_id) == tokenizer.unk_token_id:
            token, subword = text[start:end], False  # show what the model could not read
        previous_word = word_ids[idx]
        pieces.append(Piece([token], probs[idx], start, end, idx, subword))
    return pieces


def _words(pieces: list[Piece], scorer: Callable[[list[Piece]], Array]) -> list[Piece]:
    words: list[list[Piece]] = []
    for piece in pieces:
        if piece.subword and words:
            words[-1].append(piece)
        else:
            words.append([piece])
    return [
        Piece([t for p in w for t in p.tokens], scorer(w), w[0].start, w[-1].end, w[0].index) for w in words
    ]


def _group(pieces: list[Piece], labels: dict[int, str]) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    for piece in pieces:
        bi, tag = split_tag(labels[piece.best])
        if groups:
            _, last_tag = split_tag(labels[groups[-1][-1].best])
            if tag == last_tag and bi != "B":
                groups[-1].append(piece)
                continue
        groups.append([piece])
    return groups


def _entity(model: LoadedEncoder, group: list[Piece], labels: dict[int, str]) -> dict[str, Any]:
    _, tag = split_tag(labels[group[0].best])
    score = float(np.mean([p.scores[p.best] for p in group]))
    word = model.tokenizer.convert_tokens_to_string([t for p in group for t in p.tokens])
    return {"entity_group": tag, "score": score, "word": word, "start": group[0].start, "end": group[-1].end}
