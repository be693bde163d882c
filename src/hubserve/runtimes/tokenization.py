"""Load a repo's fast tokenizer and work out the longest input the model takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubserve.errors import ModelLoadFailed

_NO_LIMIT = 1_000_000


def load_tokenizer(files_dir: Path) -> Any:
    """A transformers fast tokenizer from tokenizer.json / vocab.txt in the repo.

    The class the repo names (``tokenizer_config.json``'s ``tokenizer_class``) is taken straight from
    transformers: ``AutoTokenizer`` would find the same one, but its module imports transformers' config
    machinery and with it torch (200 MB of a runner's memory, for an ONNX encoder that never runs it).
    A repo that names no class takes ``AutoTokenizer``'s way.
    """
    try:
        cls = _named_class(files_dir)
        if cls is not None:
            tokenizer = cls.from_pretrained(str(files_dir))
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(files_dir), use_fast=True)
    except (OSError, ValueError, KeyError) as exc:
        if not (files_dir / "tokenizer.json").is_file():
            raise ModelLoadFailed(f"Could not load the tokenizer: {exc}") from exc
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(files_dir / "tokenizer.json"))
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadFailed("The model needs a fast tokenizer (tokenizer.json or a vocab it can convert)")
    return tokenizer


def _named_class(files_dir: Path) -> Any | None:
    """The tokenizer class ``tokenizer_config.json`` names, if transformers has it (``XFast`` or ``X``)."""
    import transformers

    try:
        config = json.loads((files_dir / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    name = config.get("tokenizer_class") if isinstance(config, dict) else None
    if not isinstance(name, str) or not name.isidentifier():
        return None
    for candidate in (name, name.removesuffix("Fast")):
        try:
            cls = getattr(transformers, candidate)
        except (AttributeError, ImportError):
            continue
        if hasattr(cls, "from_pretrained"):
            return cls
    return None


def max_input_tokens(tokenizer: Any, config: dict[str, Any], st_max_seq_length: int | None) -> int:
    """The token limit: the smallest of the tokenizer's, the position table's and sentence-transformers'."""
    limits = [int(getattr(tokenizer, "model_max_length", _NO_LIMIT) or _NO_LIMIT)]
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models reserve padding_idx + 1 positions.
        offset = 2 if config.get("model_type") in {"roberta", "xlm-roberta", "camembert"} else 0
        limits.append(positions - offset)
    if st_max_seq_length:
        limits.append(st_max_seq_length)
    return min(x for x in limits if x > 0)
