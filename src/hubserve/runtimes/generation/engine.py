"""GenerationEngine: continuous batching over one backend, in one worker thread.

Every active sequence advances one token per step in a single batched ``decode`` call, so streams make
fair progress; new requests are prefilled between steps, so they start without waiting for others to end.
Consumers read tokens from an async iterator; leaving it early (a client disconnect) cancels the sequence
and frees its slot at the next step.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

import numpy as np

from hubserve.errors import GenerationFailed, HubserveError, ValidationFailed
from hubserve.runtimes.generation.base import GenerationBackend, Logits
from hubserve.runtimes.generation.constraints import Matcher
from hubserve.runtimes.generation.limits import check_prompt
from hubserve.runtimes.generation.sampling import apply_penalties, choose
from hubserve.runtimes.generation.text import TextAssembler
from hubserve.types.generation import Constraint, FinishReason, SamplingParams, TokenEvent, TopLogprob

log = logging.getLogger(__name__)
MatcherFactory = Callable[[Constraint], Matcher]


@dataclass
class _Sequence:
    prompt: list[int]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[TokenEvent | BaseException]
    seed: int
    max_new_tokens: int
    matcher: Matcher | None
    rng: np.random.Generator = field(init=False)
    assembler: TextAssembler = field(init=False)
    generated: list[int] = field(default_factory=list)
    counts: Counter[int] = field(default_factory=Counter)
    slot: int = -1
    position: int = 0
    cancelled: bool = False
    finished: bool = False

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.assembler = TextAssembler(stops=self.params.stop)

    def send(self, item: TokenEvent | BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's event loop is gone: nobody will read this sequence
            self.cancelled = True


class GenerationEngine:
    """Owns a backend; runs all its sequences in one worker thread."""

    def __init__(self, backend: GenerationBackend, *, matcher_factory: MatcherFactory | None = None) -> None:
        self.backend = backend
        self._matcher_factory = matcher_factory
        self._cond = threading.Condition()
        self._waiting: deque[_Sequence] = deque()
        self._active: list[_Sequence] = []
        self._free_slots = list(range(backend.max_slots))
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"generate-{backend.name}", daemon=True)
        self._thread.start()

    @property
    def load(self) -> tuple[int, int]:
        """(active sequences, waiting sequences)."""
        with self._cond:
            return len(self._active), len(self._waiting)

    async def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Generate from ``prompt``; yields one event per token, the last one with ``finish_reason``."""
        seq = self._sequence(prompt, params)
        with self._cond:
            if self._closed:
                raise GenerationFailed("The model is shutting down")
            # No bound here: the scheduler's per-model queue is the one limit that answers 429.
            self._waiting.append(seq)
            self._cond.notify()
        try:
            while True:
                item = await seq.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            seq.cancelled = True
            with self._cond:
                self._cond.notify()

    def close(self) -> None:
        """Stop the worker; sequences still running get an error."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _sequence(self, prompt: list[int], params: SamplingParams) -> _Sequence:
        max_new_tokens = check_prompt(prompt, self.backend.context_length, params)
        matcher = None
        if params.constraint is not None:
            if self._matcher_factory is None:
                raise ValidationFailed(
                    "This model does not support constrained output", param="response_format"
                )
            matcher = self._matcher_factory(params.constraint)
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        return _Sequence(
            prompt=prompt,
            params=params,
            loop=asyncio.get_running_loop(),
            queue=asyncio.Queue(),
            seed=seed,
            max_new_tokens=max_new_tokens,
            matcher=matcher,
        )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._active:
                    self._cond.wait()
                if self._closed:
                    self._fail_all(GenerationFailed("The model was unloaded during generation"))
                    return
                admitted: list[_Sequence] = []
                while self._waiting and len(self._active) + len(admitted) < self.backend.max_slots:
                    admitted.append(self._waiting.popleft())
            for seq in admitted:
                self._prefill(seq)
            self._reap()
            if self._active:
                self._step()
                self._reap()

    def _prefill(self, seq: _Sequence) -> None:
        if seq.cancelled:
            return
        seq.slot = self._free_slots.pop()
        with self._cond:
            self._active.append(seq)
        try:
            logits = self.backend.prefill(seq.slot, seq.prompt)
        except Exception as exc:  # a backend failure ends this sequence, not the engine
            log.exception("prefill failed")
            self._finish_with_error(seq, exc)
            return
        seq.position = len(seq.prompt)
        self._advance(seq, logits)

    def _step(self) -> None:
        running = [s for s in self._active if not s.finished and not s.cancelled]
        if not running:
            return
        steps = [(s.slot, s.generated[-1], s.position) for s in running]
        try:
            rows = self.backend.decode(steps)
        except Exception as exc:  # fail the batch's sequences, keep serving others later
            log.exception("decode failed")
            for seq in running:
                self._finish_with_error(seq, exc)
            return
        for seq, row in zip(running, rows, strict=True):
            seq.position += 1
            self._advance(seq, row)

    def _advance(self, seq: _Sequence, row: Logits) -> None:
        params = seq.params
        logits = np.array(row, dtype=np.float32, copy=True)
        apply_penalties(logits, params, seq.prompt + seq.generated, seq.counts)
        if seq.matcher is not None:
            seq.matcher.mask(logits)
        pick = choose(logits, params, seq.rng)
        if seq.matcher is not None:
            seq.matcher.accept(pick.token)
        seq.generated.append(pick.token)
        seq.counts[pick.token] += 1
        backend = self.backend
        special = backend.is_special(pick.token)
        data = b"" if special else backend.token_bytes(pick.token)
        delta = seq.assembler.feed(data)
        finish = self._finish_reason(seq, pick.token)
        if finish is not None and finish != "stop_sequence":
            delta += seq.assembler.flush()
        if finish is not None:
            seq.finished = True
        top = tuple(TopLogprob(i, _text(backend, i), lp) for i, lp in pick.top)
        seq.send(
            TokenEvent(
                id=pick.token,
                text=_text(backend, pick.token),
                delta=delta,
                logprob=pick.logprob,
                special=special,
                top=top,
                finish_reason=finish,
                prompt_tokens=len(seq.prompt),
                generated_tokens=len(seq.generated),
                seed=seq.seed,
            )
        )

    def _finish_reason(self, seq: _Sequence, token: int) -> FinishReason | None:
        if seq.assembler.stopped:
            return "stop_sequence"
        if token in self.backend.eos_token_ids and not seq.params.ignore_eos:
            return "eos_token"
        if len(seq.generated) >= seq.max_new_tokens:
            return "length"
        return None

    def _reap(self) -> None:
        with self._cond:
            done = [s for s in self._active if s.finished or s.cancelled]
            self._active = [s for s in self._active if not (s.finished or s.cancelled)]
            self._waiting = deque(s for s in self._waiting if not s.cancelled)
        for seq in done:
            self.backend.free(seq.slot)
            self._free_slots.append(seq.slot)

    def _finish_with_error(self, seq: _Sequence, exc: Exception) -> None:
        seq.finished = True
        error = exc if isinstance(exc, HubserveError) else GenerationFailed(f"Generation failed: {exc}")
        seq.send(error)

    def _fail_all(self, error: HubserveError) -> None:
        for seq in [*self._active, *self._waiting]:
            seq.send(error)
        self._active.clear()
        self._waiting.clear()


def _text(backend: GenerationBackend, token: int) -> str:
    return backend.token_bytes(token).decode("utf-8", errors="replace")
