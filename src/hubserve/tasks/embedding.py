"""Sentence embeddings as the model's sentence-transformers config says: prompt, pooling, normalisation."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hubserve.errors import UnknownOption, ValidationFailed
from hubserve.runtimes.base import Array, LoadedEncoder
from hubserve.tasks.base import check_length, tokenize

# Most inputs per forward. Measured on MiniLM, 2 cores, sentences of 6-20 words: equal sorted chunks of
# at most 24 embed a batch of 32 8% faster than one forward of 32, as each chunk pads to a nearer length.
SUB_BATCH = 24


@dataclass(frozen=True)
class EmbeddingConfig:
    """How a repo turns token states into one vector: from modules.json and its Pooling folder."""

    pooling: str = "mean"
    normalize: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None


def embedding_config(model: LoadedEncoder) -> EmbeddingConfig:
    """The model's embedding config, read once per loaded model."""
    config = model.memo.get("embedding")
    if not isinstance(config, EmbeddingConfig):
        config = model.memo["embedding"] = read_embedding_config(model.spec.files_dir)
    return config


def read_embedding_config(files_dir: Path) -> EmbeddingConfig:
    """Read the sentence-transformers config of a repo; plain encoders get mean pooling, no normalisation."""
    modules_file = files_dir / "modules.json"
    if not modules_file.is_file():
        return EmbeddingConfig()
    modules = json.loads(modules_file.read_text())
    pooling = "mean"
    normalize = False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith("Pooling"):
            pooling = _pooling_mode(files_dir / module.get("path", ""))
        elif kind.endswith("Normalize"):
            normalize = True
    st_config = files_dir / "config_sentence_transformers.json"
    extra: dict[str, Any] = json.loads(st_config.read_text()) if st_config.is_file() else {}
    return EmbeddingConfig(
        pooling=pooling,
        normalize=normalize,
        prompts=dict(extra.get("prompts") or {}),
        default_prompt_name=extra.get("default_prompt_name"),
    )


def _pooling_mode(folder: Path) -> str:
    config_file = folder / "config.json"
    if not config_file.is_file():
        return "mean"
    config = json.loads(config_file.read_text())
    for mode in POOLERS:
        if config.get(f"pooling_mode_{mode}_token") or config.get(f"pooling_mode_{mode}_tokens"):
            return mode
        if config.get(f"pooling_mode_{mode}"):
            return mode
    return str(config.get("pooling_mode", "mean"))


# One input to embed: a text, or token ids the caller already has (OpenAI's and TEI's token inputs).
EmbedInput = str | list[int]


def prompt_prefix(config: EmbeddingConfig, prompt_name: str | None) -> str:
    """The named prompt (or the model's default prompt); empty when there is none."""
    name = prompt_name or config.default_prompt_name
    if name is None:
        return ""
    if name not in config.prompts:
        valid = ", ".join(sorted(config.prompts)) or "none: this model defines no prompts"
        raise UnknownOption(f"Unknown prompt_name {name!r}; valid: {valid}", param="prompt_name")
    return config.prompts[name]


def apply_prompt(config: EmbeddingConfig, texts: list[str], prompt_name: str | None) -> list[str]:
    """Prefix each text with the named prompt (or the model's default prompt)."""
    prefix = prompt_prefix(config, prompt_name)
    return [prefix + t for t in texts] if prefix else texts


def _prompted(config: EmbeddingConfig, inputs: list[EmbedInput], prompt_name: str | None) -> list[EmbedInput]:
    """Texts get the prompt; token ids are the caller's own and go as they are."""
    prefix = prompt_prefix(config, prompt_name)
    return [prefix + x if isinstance(x, str) and prefix else x for x in inputs]


def _cls(states: Array, mask: Array) -> Array:
    out: Array = states[:, 0]
    return out


def _max(states: Array, mask: Array) -> Array:
    out: Array = np.where(mask[..., None] > 0, states, -np.inf).max(axis=1)
    return out


def _last_token(states: Array, mask: Array) -> Array:
    out: Array = states[np.arange(states.shape[0]), mask.sum(axis=1).astype(int) - 1]
    return out


def _sum_and_count(states: Array, mask: Array) -> tuple[Array, Array]:
    m = mask[..., None].astype(states.dtype)
    return (states * m).sum(axis=1), np.clip(m.sum(axis=1), 1e-9, None)


def _mean(states: Array, mask: Array) -> Array:
    summed, counts = _sum_and_count(states, mask)
    out: Array = summed / counts
    return out


def _mean_sqrt_len(states: Array, mask: Array) -> Array:
    summed, counts = _sum_and_count(states, mask)
    out: Array = summed / np.sqrt(counts)
    return out


POOLERS: dict[str, Callable[[Array, Array], Array]] = {
    "cls": _cls,
    "mean": _mean,
    "max": _max,
    "mean_sqrt_len": _mean_sqrt_len,
    "lasttoken": _last_token,
}


def pool(states: Array, mask: Array, mode: str) -> Array:
    """Reduce token states [batch, seq, dim] to one vector per input, ignoring padding."""
    if mode not in POOLERS:
        raise UnknownOption(f"Unknown pooling mode {mode!r}; valid: {', '.join(POOLERS)}")
    return POOLERS[mode](states, mask)


def l2_normalize(vectors: Array) -> Array:
    """Scale rows to unit length."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Array = vectors / np.clip(norms, 1e-12, None)
    return out


@dataclass(frozen=True)
class Tokenized:
    """Texts ready for the encoder: sorted by length, cut in equal chunks, each chunk tokenized."""

    rows: list[list[int]]  # each chunk's positions in the caller's list
    encodings: list[Any]

    def token_counts(self) -> Array:
        """The tokens each input has (special ones included, padding not), in the caller's order."""
        count = sum(len(rows) for rows in self.rows)
        counts = np.zeros(count, dtype=np.float32)
        for rows, encoding in zip(self.rows, self.encodings, strict=True):
            counts[rows] = np.asarray(encoding["attention_mask"]).sum(axis=1)
        return counts


def tokenize_sorted(
    model: LoadedEncoder, inputs: list[EmbedInput], *, truncate: bool, prompt_name: str | None = None
) -> Tokenized:
    """Prompt, sort by length and tokenize in equal chunks of at most SUB_BATCH, at least one per thread.

    Sorting by length first keeps padding (wasted compute) small when a request mixes short and long texts;
    the sorted texts go in equal chunks, so 33 texts are two forwards of 17 and 16 rather than 32 and 1,
    and on a two-thread model 10 texts are two forwards of 5 and 50 are four of 12 or 13, run two at once.
    Token-id inputs sort by their count, a text by its characters over three.
    """
    prompted = _prompted(embedding_config(model), inputs, prompt_name)
    order = sorted(range(len(prompted)), key=lambda i: _length(prompted[i]))
    chunks = _chunk_count(len(order), model.parallel)
    rows = [order[part * len(order) // chunks : (part + 1) * len(order) // chunks] for part in range(chunks)]
    encodings = [_encode(model, [prompted[i] for i in chunk], truncate=truncate) for chunk in rows]
    return Tokenized(rows, encodings)


def _length(item: EmbedInput) -> int:
    return len(item) // 3 if isinstance(item, str) else len(item)


def _encode(model: LoadedEncoder, chunk: list[EmbedInput], *, truncate: bool) -> Any:
    """One padded batch; texts through the tokenizer, token ids as they are (cut if asked)."""
    if all(isinstance(x, str) for x in chunk):
        return tokenize(model, chunk, truncate=truncate)  # type: ignore[arg-type]
    tokenizer = model.tokenizer
    size = len(tokenizer)
    rows: list[list[int]] = []
    for item in chunk:
        if isinstance(item, str):
            ids = tokenizer(item, truncation=truncate, max_length=model.max_length if truncate else None)
            row = list(ids["input_ids"])
        else:
            bad = next((i for i in item if i >= size), None)
            if bad is not None:
                raise ValidationFailed(
                    f"Token id {bad} is outside the vocabulary (size {size})", param="inputs"
                )
            row = list(item)
        if len(row) > model.max_length and truncate:
            row = row[-model.max_length :] if tokenizer.truncation_side == "left" else row[: model.max_length]
        check_length(model, len(row))
        rows.append(row)
    return tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="np", return_attention_mask=True)


def _chunk_count(texts: int, threads: int) -> int:
    """At most SUB_BATCH texts a chunk, and a multiple of the threads, so they finish a request together."""
    chunks = -(-texts // SUB_BATCH)
    return min(texts, -(-chunks // threads) * threads)


def embed_tokenized(model: LoadedEncoder, tokenized: Tokenized, *, normalize: bool | None = None) -> Array:
    """Encoder → pooling → optional L2 norm, one forward per chunk; rows in the caller's order.

    The chunks' forwards run side by side where the model has the threads.
    """
    config = embedding_config(model)
    count = sum(len(rows) for rows in tokenized.rows)
    vectors = np.empty((count, 0), dtype=np.float32)
    # Longest chunks first: the threads that take the short ones last end close to the others.
    outputs = model.forward_many(tokenized.encodings[::-1])[::-1]
    for rows, encoding, output in zip(tokenized.rows, tokenized.encodings, outputs, strict=True):
        states = output["last_hidden_state"]
        pooled = pool(states, np.asarray(encoding["attention_mask"]), config.pooling).astype(np.float32)
        if vectors.shape[1] == 0:
            vectors = np.empty((count, pooled.shape[1]), dtype=np.float32)
        vectors[rows] = pooled
    do_norm = config.normalize if normalize is None else normalize
    return l2_normalize(vectors) if do_norm else vectors


def embed(
    model: LoadedEncoder,
    texts: list[EmbedInput],
    *,
    truncate: bool,
    normalize: bool | None = None,
    prompt_name: str | None = None,
) -> Array:
    """Embed texts: prompt → tokens → encoder → pooling → optional L2 norm, in length-sorted chunks."""
    tokenized = tokenize_sorted(model, texts, truncate=truncate, prompt_name=prompt_name)
    return embed_tokenized(model, tokenized, normalize=normalize)
