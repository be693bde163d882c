"""A deterministic byte-level backend: after byte b it strongly prefers b+1 (a→b→c…), z → EOS."""

from __future__ import annotations

import threading

import numpy as np

EOS = 256


class CountingBackend:
    name = "fake"
    vocab_size = 257
    eos_token_ids = frozenset({EOS})

    def __init__(self, max_slots: int = 4, context_length: int = 64) -> None:
        self.max_slots = max_slots
        self.context_length = context_length
        # When set, each decode takes a permit first: a test paces the engine's thread without a clock.
        self.steps: threading.Semaphore | None = None
        self.freed_one = threading.Event()
        self.batch_sizes: list[int] = []
        self.freed: list[int] = []
        self.live: set[int] = set()
        self.lock = threading.Lock()

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        return list(text.encode())

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if token_id == EOS else bytes([token_id])

    def is_special(self, token_id: int) -> bool:
        return token_id == EOS

    def _row(self, last: int) -> np.ndarray:
        row = np.zeros(self.vocab_size, dtype=np.float32)
        row[EOS if last == ord("z") else (last + 1) % 256] = 10.0
        row[ord(" ")] = 5.0
        return row

    def prefill(self, slot: int, ids: list[int]) -> np.ndarray:
        assert slot not in self.live, "a slot was reused before it was freed"
        self.live.add(slot)
        return self._row(ids[-1])

    def decode(self, steps: list[tuple[int, int, int]]) -> np.ndarray:
        if self.steps is not None:
            assert self.steps.acquire(timeout=10), "the test never let the engine take another step"
        self.batch_sizes.append(len(steps))
        return np.stack([self._row(token) for _, token, _ in steps])

    def free(self, slot: int) -> None:
        self.live.discard(slot)
        self.freed.append(slot)
        self.freed_one.set()

    def chat_template(self) -> str | None:
        return None

    def special_tokens(self) -> dict[str, str]:
        return {"bos_token": "", "eos_token": ""}

    def grammar_vocab(self) -> list[bytes]:
        return [self.token_bytes(i) for i in range(self.vocab_size)]
