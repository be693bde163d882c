"""llama.cpp's own server engine, in process through xllamacpp: its batching, sampling and grammars.

llama.cpp's C++ server schedules the sequences (continuous batching, prompt caching per slot), samples
and enforces grammars (LLGuidance); hubserve keeps what its dialects need on top: the prompt's tokens and
their room in the context, stop sequences cut on whole characters, seeds, logprobs and finish reasons.
The engine answers on a loopback port that only this process knows the key of; the native ``/completion``
stream gives each token's id, text and logprob.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from hubserve.errors import GenerationFailed, ModelLoadFailed, ValidationFailed
from hubserve.hub.weights import gguf_metadata
from hubserve.runtimes.generation.limits import check_prompt
from hubserve.runtimes.generation.text import TextAssembler
from hubserve.types.generation import Constraint, FinishReason, SamplingParams, TokenEvent, TopLogprob

log = logging.getLogger(__name__)

PREFILL_CHUNK = 512
# The compute buffer grows with ubatch x vocabulary (262k for Gemma 3): 512 would reserve ~515 MiB.
MICRO_BATCH = 128
CONTROL_TOKEN = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL in tokenizer.ggml.token_type
TOKEN_TYPES = "tokenizer.ggml.token_type"
WARNINGS = 2  # llama.cpp's log verbosity: errors and warnings
# llama.cpp seeds are 32-bit, and 0xFFFFFFFF asks it for a random one.
SEED_SPACE = 0xFFFFFFFF
FINISH: dict[str, FinishReason] = {"eos": "eos_token", "limit": "length", "word": "stop_sequence"}


class LlamaServerGenerator:
    """A GGUF model served by llama.cpp's server engine; a TokenGenerator."""

    name = "llama-server"

    def __init__(self, gguf: Path, *, threads: int, max_slots: int, context_per_slot: int) -> None:
        import xllamacpp as xlc

        meta = gguf_metadata(gguf, frozenset({TOKEN_TYPES}))
        arch = meta.get("general.architecture", "")
        trained = int(meta.get(f"{arch}.context_length") or 0)
        self.context_length = min(context_per_slot, trained) if trained > 0 else context_per_slot
        self.template: str | None = meta.get("tokenizer.chat_template") or None
        self._control = frozenset(
            i for i, kind in enumerate(meta.get(TOKEN_TYPES, ())) if kind == CONTROL_TOKEN
        )
        self.max_slots = max_slots
        key = secrets.token_urlsafe(24)
        params = xlc.CommonParams()
        params.model.path = str(gguf)
        params.n_parallel = max_slots
        params.n_ctx = self.context_length * max_slots
        params.kv_unified = True  # every slot may use the whole cache; check_prompt bounds each sequence
        params.n_batch = PREFILL_CHUNK
        params.n_ubatch = MICRO_BATCH
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_threads_http = max_slots + 2
        params.ctx_shift = False  # a sequence that runs out of room ends; it never silently forgets
        params.cache_ram_mib = (
            0  # no host-memory prompt cache: the runner's memory stays what it was budgeted
        )
        params.api_keys = [key]
        params.hostnames = ["127.0.0.1"]
        params.ui = False
        params.endpoint_slots = True  # load() reads the engine's own view of its slots
        params.verbosity = WARNINGS
        try:
            self._server = xlc.Server(params)
        except Exception as exc:
            raise ModelLoadFailed(f"llama.cpp could not load {gguf.name}: {exc}") from exc
        self._url = str(self._server.listening_address)
        self._headers = {"Authorization": f"Bearer {key}"}
        self._sync = httpx.Client(base_url=self._url, headers=self._headers, timeout=60)
        self._async: httpx.AsyncClient | None = None
        self._pieces: dict[int, str] = {}
        self._running = 0
        props = self._sync.get("/props").json()
        self.special_tokens = {
            "bos_token": str(props.get("bos_token") or ""),
            "eos_token": str(props.get("eos_token") or ""),
        }

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text`` (special tokens written in the text are parsed as such)."""
        body = {"content": text, "add_special": add_special, "parse_special": True}
        tokens: list[int] = self._call("/tokenize", body)["tokens"]
        return tokens

    def token_text(self, token_id: int) -> str:
        """The text one token adds ("" for control tokens)."""
        if token_id in self._control:
            return ""
        if token_id not in self._pieces:
            self._pieces[token_id] = str(self._call("/detokenize", {"tokens": [token_id]})["content"])
        return self._pieces[token_id]

    def load(self) -> tuple[int, int]:
        """(sequences decoding, sequences waiting), as llama.cpp's slots say."""
        try:
            slots = self._sync.get("/slots", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return self._running, 0
        decoding = sum(1 for slot in slots if slot.get("is_processing"))
        return decoding, max(0, self._running - decoding)

    async def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Token events of one sequence, decoded in llama.cpp's batch; leaving early cancels it there."""
        max_new = check_prompt(prompt, self.context_length, params)
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        body = self._request(prompt, params, max_new, seed)
        if self._async is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=self.max_slots * 2)
            self._async = httpx.AsyncClient(
                base_url=self._url, headers=self._headers, timeout=None, limits=limits
            )
        self._running += 1
        try:
            async with self._async.stream("POST", "/completion", json=body) as response:
                if response.status_code != 200:
                    raise _failure(response.status_code, await response.aread())
                async for event in self._events(response, prompt, params, max_new, seed):
                    yield event
        except httpx.HTTPError as exc:
            raise GenerationFailed(f"llama.cpp's engine stopped answering: {exc}") from exc
        finally:
            self._running -= 1

    async def _events(
        self, response: httpx.Response, prompt: list[int], params: SamplingParams, max_new: int, seed: int
    ) -> AsyncGenerator[TokenEvent, None]:
        """One event per token chunk; the last one carries the finish reason.

        The engine ends a sequence with a chunk of its own, right after the last token's. A token whose
        chunk has no text (a control token such as the end of turn, or bytes of a split character) may be
        the last, so its event waits for the next chunk; every other token is sent at once.
        """
        assembler = TextAssembler(stops=params.stop)
        held: TokenEvent | None = None
        generated = 0
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise GenerationFailed(f"Generation failed: {chunk['error'].get('message', chunk['error'])}")
            if held is not None:
                if chunk.get("stop"):
                    reason = FINISH.get(str(chunk.get("stop_type")), "length")
                    yield replace(held, finish_reason=reason, delta=held.delta + assembler.flush())
                    return
                yield held
                held = None
            if chunk.get("stop"):
                # Only a chunk with text comes last here; nothing is left to say which token ended it.
                log.warning("llama.cpp ended a sequence after a token that was already sent")
                return
            tokens = _tokens(chunk)
            for i, (token, info) in enumerate(tokens):
                generated += 1
                content = str(chunk.get("content", "")) if i == len(tokens) - 1 else ""
                delta = assembler.feed(content.encode())
                event = self._event(token, info, content, delta, len(prompt), generated, seed)
                if assembler.stopped:
                    yield replace(event, finish_reason="stop_sequence")
                    return
                if generated >= max_new:
                    yield replace(event, finish_reason="length", delta=delta + assembler.flush())
                    return
                if content:
                    yield event
                else:
                    held = event

    def _event(
        self,
        token: int,
        info: dict[str, Any] | None,
        content: str,
        delta: str,
        prompt_n: int,
        n: int,
        seed: int,
    ) -> TokenEvent:
        special = token in self._control
        # A token with no released text (bytes of a split character) is looked up in the engine, unless
        # its logprob entry already names it: that lookup is a blocking call on the runner's loop.
        piece = str(info["token"]) if info is not None and "token" in info else None
        text = "" if special else (content or piece or self.token_text(token))
        logprob = 0.0
        top: tuple[TopLogprob, ...] = ()
        if info is not None:
            logprob = float(info.get("logprob", 0.0))
            top = tuple(
                TopLogprob(
                    int(alt["id"]),
                    "" if int(alt["id"]) in self._control else str(alt["token"]),
                    float(alt["logprob"]),
                )
                for alt in info.get("top_logprobs", ())
            )
        return TokenEvent(
            id=token,
            text=text,
            delta=delta,
            logprob=logprob,
            special=special,
            top=top,
            prompt_tokens=prompt_n,
            generated_tokens=n,
            seed=seed,
        )

    def _alternative(self, alt: dict[str, Any]) -> TopLogprob:
        token = int(alt["id"])
        return TopLogprob(token, "" if token in self._control else str(alt["token"]), float(alt["logprob"]))

    def _request(self, prompt: list[int], params: SamplingParams, max_new: int, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": max_new,
            "stream": True,
            "return_tokens": True,
            # A seeded request asks to be repeatable: a prompt read from the cache is decoded in other
            # batches than a fresh one, and llama.cpp's numbers, so a sampled path, can differ by a hair.
            "cache_prompt": params.seed is None,
            "seed": seed % SEED_SPACE,
            "temperature": 0.0 if params.greedy else params.temperature,
            "top_k": params.top_k,
            "top_p": params.top_p,
            # llama.cpp's other samplers are off: hubserve's parameters mean what they mean elsewhere.
            "min_p": 0.0,
            "typical_p": 1.0,
            "xtc_probability": 0.0,
            "dry_multiplier": 0.0,
            "repeat_penalty": params.repetition_penalty,
            "repeat_last_n": self.context_length,
            "frequency_penalty": params.frequency_penalty,
            "presence_penalty": params.presence_penalty,
            "ignore_eos": params.ignore_eos,
            "n_probs": 0 if params.logprobs is None else max(1, params.logprobs),
            "post_sampling_probs": False,
        }
        if params.logit_bias:
            body["logit_bias"] = [[token, bias] for token, bias in params.logit_bias.items()]
        if params.constraint is not None:
            body["grammar"] = grammar(params.constraint)
        return body

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._sync.post(path, json=body)
        except httpx.HTTPError as exc:
            raise GenerationFailed(f"llama.cpp's engine stopped answering: {exc}") from exc
        if response.status_code != 200:
            raise _failure(response.status_code, response.content)
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        """Stop the engine and free the model."""
        self._sync.close()
        del self._server


def grammar(constraint: Constraint) -> str:
    """The constraint as an LLGuidance grammar, checked first: llama.cpp would drop a broken one silently."""
    import llguidance

    if constraint.kind == "regex":
        body = f"start: /{llguidance.regex_to_lark(str(constraint.value))}/"
    else:
        value = constraint.value
        schema = json.loads(value) if isinstance(value, str) else value
        if constraint.kind == "json" or not schema:
            schema = {"type": "object"}
        if not isinstance(schema, dict):
            raise ValidationFailed("A JSON schema must be an object", param="response_format")
        # Compact JSON, and no properties beyond the schema's (xgrammar's strict mode, the other engine's):
        # free whitespace and extra keys let small models ramble until they run out of tokens.
        schema = {**_strict(schema), "x-guidance": {"whitespace_flexible": False}}
        body = f"start: %json {json.dumps(schema)}"
    text = "%llguidance {}\n" + body
    error = llguidance.LLMatcher.validate_grammar(text)
    if error:
        raise ValidationFailed(
            f"Invalid {constraint.kind} constraint: {error.strip()}", param="response_format"
        )
    return text


def _strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that lists its properties."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _tokens(chunk: dict[str, Any]) -> list[tuple[int, dict[str, Any] | None]]:
    """A chunk's token ids, each with its logprob entry when logprobs were asked for."""
    ids = [int(t) for t in chunk.get("tokens") or ()]
    probs = chunk.get("completion_probabilities") or []
    return [(token, probs[i] if i < len(probs) else None) for i, token in enumerate(ids)]


def _failure(status: int, raw: bytes) -> Exception:
    """The engine's error answer as hubserve's error."""
    try:
        error = json.loads(raw).get("error", {})
    except ValueError:
        error = {}
    message = str(error.get("message") or raw[:200].decode(errors="replace"))
    if status == 400 or error.get("type") in ("invalid_request_error", "exceed_context_size_error"):
        return ValidationFailed(f"Input validation error: {message}", param="inputs")
    return GenerationFailed(f"Generation failed: {message}")
