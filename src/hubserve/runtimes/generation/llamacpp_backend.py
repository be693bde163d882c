"""llama.cpp through llama-cpp-python's C API: one context, several sequences decoded in one batch."""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hubserve.errors import GenerationFailed, ModelLoadFailed
from hubserve.runtimes.generation.base import Logits

PREFILL_CHUNK = 512
# The compute buffer grows with ubatch × vocabulary (262k for Gemma 3): 512 would reserve ~515 MiB.
MICRO_BATCH = 128


class LlamaCppBackend:
    """A GGUF model; slots are llama.cpp sequence ids sharing one unified KV cache."""

    name = "llama.cpp"

    def __init__(self, gguf: Path, *, threads: int, max_slots: int, context_per_slot: int) -> None:
        import llama_cpp as lc

        # llama.cpp reports every graph tensor at load; keep its warnings and errors only.
        logging.getLogger("llama-cpp-python").setLevel(max(logging.WARNING, logging.getLogger().level))
        self._lc = lc
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        model = lc.llama_model_load_from_file(str(gguf).encode(), mparams)
        if not model:
            raise ModelLoadFailed(f"llama.cpp could not load {gguf.name}")
        self._model = model
        self._vocab = lc.llama_model_get_vocab(model)
        train_ctx = int(lc.llama_model_n_ctx_train(model))
        self.context_length = min(context_per_slot, train_ctx) if train_ctx > 0 else context_per_slot
        self.max_slots = max_slots
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = self.context_length * max_slots
        cparams.n_batch = PREFILL_CHUNK
        cparams.n_ubatch = MICRO_BATCH
        cparams.n_seq_max = max_slots
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        if hasattr(cparams, "kv_unified"):
            cparams.kv_unified = True
        self._ctx = lc.llama_init_from_model(model, cparams)
        if not self._ctx:
            lc.llama_model_free(model)
            raise ModelLoadFailed(f"llama.cpp could not create a context for {gguf.name}")
        self._memory = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(max(PREFILL_CHUNK, max_slots), 0, 1)
        self.vocab_size = int(lc.llama_vocab_n_tokens(self._vocab))
        self._pieces = [self._piece(t, special=False) for t in range(self.vocab_size)]
        self._control = frozenset(
            t for t in range(self.vocab_size) if lc.llama_vocab_is_control(self._vocab, t)
        )
        self.eos_token_ids = frozenset(
            t for t in range(self.vocab_size) if lc.llama_vocab_is_eog(self._vocab, t)
        )

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text`` (special tokens written in the text are parsed as such)."""
        data = text.encode()
        capacity = len(data) + 16
        buf = (self._lc.llama_token * capacity)()
        n = self._lc.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, True)
        if n < 0:
            capacity = -n
            buf = (self._lc.llama_token * capacity)()
            n = self._lc.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, True)
        return list(buf[:n])

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token adds to the output."""
        return self._pieces[token_id] if 0 <= token_id < self.vocab_size else b""

    def is_special(self, token_id: int) -> bool:
        """Whether the token is a control token."""
        return token_id in self._control

    def prefill(self, slot: int, ids: list[int]) -> Logits:
        """Feed the prompt in chunks; return the logits after its last token."""
        last = 0
        for start in range(0, len(ids), PREFILL_CHUNK):
            chunk = ids[start : start + PREFILL_CHUNK]
            final = start + len(chunk) == len(ids)
            self._fill([(slot, tok, start + i, final and i == len(chunk) - 1) for i, tok in enumerate(chunk)])
            last = len(chunk) - 1
        return self._logits(last)

    def decode(self, steps: list[tuple[int, int, int]]) -> npt.NDArray[np.float32]:
        """One token for each slot, all in one llama_decode."""
        self._fill([(slot, token, position, True) for slot, token, position in steps])
        return np.stack([self._logits(i) for i in range(len(steps))])

    def free(self, slot: int) -> None:
        """Drop the slot's cells from the KV cache."""
        self._lc.llama_memory_seq_rm(self._memory, slot, -1, -1)

    def chat_template(self) -> str | None:
        """The template stored in the GGUF metadata, if any."""
        raw = self._lc.llama_model_chat_template(self._model, None)
        return raw.decode() if raw else None

    def special_tokens(self) -> dict[str, str]:
        """bos/eos strings for templates."""
        lc = self._lc
        return {
            "bos_token": self._piece(lc.llama_vocab_bos(self._vocab), special=True).decode(errors="replace"),
            "eos_token": self._piece(lc.llama_vocab_eos(self._vocab), special=True).decode(errors="replace"),
        }

    def grammar_vocab(self) -> list[bytes]:
        """Every token's bytes, in id order."""
        return self._pieces

    def close(self) -> None:
        """Free the context and the weights."""
        self._lc.llama_batch_free(self._batch)
        self._lc.llama_free(self._ctx)
        self._lc.llama_model_free(self._model)

    def _fill(self, tokens: list[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        for i, (slot, token, position, want_logits) in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot
            batch.logits[i] = want_logits
        batch.n_tokens = len(tokens)
        status = self._lc.llama_decode(self._ctx, batch)
        if status != 0:
            raise GenerationFailed(f"llama_decode failed with status {status} (KV cache full?)")

    def _logits(self, index: int) -> Logits:
        pointer = self._lc.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.vocab_size,)).copy()

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]
