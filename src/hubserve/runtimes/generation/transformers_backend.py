"""transformers causal LMs: each slot keeps its own KV cache; decode steps run as one left-padded batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.generation.base import Logits
from hubserve.runtimes.generation.tokens import token_byte_table

KV = list[tuple[Any, Any]]  # per layer: (keys, values), each [1, heads, length, dim]


class TransformersBackend:
    """A transformers AutoModelForCausalLM behind the GenerationBackend protocol."""

    name = "transformers"

    def __init__(self, files_dir: Path, *, threads: int, max_slots: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(files_dir))
            self.model = AutoModelForCausalLM.from_pretrained(str(files_dir), dtype=torch.float32).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadFailed(f"transformers could not load a causal LM from {files_dir}: {exc}") from exc
        config = self.model.config
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        self.context_length = int(positions or 2048)
        self.max_slots = max_slots
        self.eos_token_ids = frozenset(_eos_ids(self.model, self.tokenizer))
        self._bytes = token_byte_table(self.tokenizer, self.vocab_size)
        self._special = frozenset(self.tokenizer.all_special_ids)
        self._caches: dict[int, KV] = {}

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text``."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=add_special)["input_ids"]
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token adds to the output."""
        return self._bytes[token_id] if 0 <= token_id < len(self._bytes) else b""

    def is_special(self, token_id: int) -> bool:
        """Whether the token is a control token."""
        return token_id in self._special

    def prefill(self, slot: int, ids: list[int]) -> Logits:
        """Run the prompt; keep its cache in the slot."""
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids]), use_cache=True)
        self._caches[slot] = [(layer.keys, layer.values) for layer in out.cache.layers]
        logits: Logits = out.logits[0, -1].float().numpy()
        return logits

    def decode(self, steps: list[tuple[int, int, int]]) -> npt.NDArray[np.float32]:
        """One token per slot, all slots in one forward with their caches left-padded to one length."""
        import torch
        from transformers import DynamicCache

        caches = [self._caches[slot] for slot, _, _ in steps]
        lengths = [cache[0][0].shape[2] for cache in caches]
        longest = max(lengths)
        stacked = []
        for layer in range(len(caches[0])):
            keys = torch.cat([_left_pad(c[layer][0], longest) for c in caches])
            values = torch.cat([_left_pad(c[layer][1], longest) for c in caches])
            stacked.append((keys, values))
        mask = torch.zeros((len(steps), longest + 1), dtype=torch.long)
        for row, length in enumerate(lengths):
            mask[row, longest - length :] = 1
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([[token] for _, token, _ in steps]),
                attention_mask=mask,
                position_ids=torch.tensor([[position] for _, _, position in steps]),
                cache=DynamicCache(ddp_cache_data=stacked),
                use_cache=True,
            )
        layers = out.cache.layers
        for row, ((slot, _, _), length) in enumerate(zip(steps, lengths, strict=True)):
            start = longest - length
            self._caches[slot] = [
                (layer.keys[row : row + 1, :, start:], layer.values[row : row + 1, :, start:])
                for layer in layers
            ]
        logits: npt.NDArray[np.float32] = out.logits[:, -1].float().numpy()
        return logits

    def free(self, slot: int) -> None:
        """Drop the slot's cache."""
        self._caches.pop(slot, None)

    def chat_template(self) -> str | None:
        """The tokenizer's chat template."""
        template = getattr(self.tokenizer, "chat_template", None)
        return template if isinstance(template, str) else None

    def special_tokens(self) -> dict[str, str]:
        """bos/eos strings for templates."""
        return {"bos_token": self.tokenizer.bos_token or "", "eos_token": self.tokenizer.eos_token or ""}

    def grammar_vocab(self) -> list[bytes]:
        """Every token's bytes, in id order."""
        return self._bytes


def _left_pad(tensor: Any, length: int) -> Any:
    import torch

    missing = length - tensor.shape[2]
    if missing == 0:
        return tensor
    pad = torch.zeros((*tensor.shape[:2], missing, tensor.shape[3]), dtype=tensor.dtype)
    return torch.cat([pad, tensor], dim=2)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
