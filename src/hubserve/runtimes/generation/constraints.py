"""Grammar-constrained decoding with xgrammar: JSON, JSON schema and regex compiled once per request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from hubserve.errors import ValidationFailed
from hubserve.runtimes.generation.base import Logits
from hubserve.types.generation import Constraint

_ANY_OBJECT = json.dumps({"type": "object"})


class GrammarCompiler:
    """Compiles constraints against one model's vocabulary (built lazily on first use)."""

    def __init__(self, vocab: list[bytes], vocab_size: int, stop_ids: list[int]) -> None:
        import xgrammar as xgr

        info = xgr.TokenizerInfo(
            vocab, vocab_type=xgr.VocabType.RAW, vocab_size=vocab_size, stop_token_ids=stop_ids
        )
        self._compiler = xgr.GrammarCompiler(info)
        self.vocab_size = vocab_size
        # Raw control bytes are never valid in compact JSON, but xgrammar's string rule lets some through.
        self._control = np.array(
            [any(b < 0x20 for b in token) for token in vocab] + [False] * (vocab_size - len(vocab))
        )

    def matcher(self, constraint: Constraint) -> Matcher:
        """A fresh matcher for one sequence."""
        import xgrammar as xgr

        try:
            # Compact JSON: free whitespace lets small models loop on blanks until they run out of tokens.
            if constraint.kind == "json":
                compiled = self._compiler.compile_json_schema(_ANY_OBJECT, any_whitespace=False)
            elif constraint.kind == "json_schema":
                value = constraint.value
                schema = value if isinstance(value, str) else json.dumps(value)
                compiled = self._compiler.compile_json_schema(schema, any_whitespace=False)
            else:
                compiled = self._compiler.compile_regex(str(constraint.value))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ValidationFailed(
                f"Invalid {constraint.kind} constraint: {exc}", param="response_format"
            ) from exc
        forbid = self._control if constraint.kind in ("json", "json_schema") else None
        return Matcher(xgr.GrammarMatcher(compiled), self.vocab_size, forbid)


@dataclass
class Matcher:
    """Per-sequence grammar state: masks logits, then advances with the chosen token."""

    _matcher: Any
    vocab_size: int
    forbid: np.ndarray[Any, np.dtype[np.bool_]] | None = None

    def mask(self, logits: Logits) -> None:
        """Set every token the grammar forbids to -inf, in place."""
        import torch
        import xgrammar as xgr

        bitmask = xgr.allocate_token_bitmask(1, self.vocab_size)
        self._matcher.fill_next_token_bitmask(bitmask)
        view = torch.from_numpy(logits[: self.vocab_size]).unsqueeze(0)
        xgr.apply_token_bitmask_inplace(view, bitmask)
        if logits.shape[0] > self.vocab_size:
            logits[self.vocab_size :] = -np.inf
        if self.forbid is not None:
            logits[: self.vocab_size][self.forbid[: self.vocab_size]] = -np.inf

    def accept(self, token: int) -> bool:
        """Advance; False if the grammar rejects the token."""
        return bool(self._matcher.accept_token(token))

    @property
    def done(self) -> bool:
        """Whether the grammar has reached an accepting end."""
        return bool(self._matcher.is_terminated())
