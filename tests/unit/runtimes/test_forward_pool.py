"""LoadedEncoder's forward pool: how many forwards run at once, in which order, and how rows are split."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubserve.errors import ModelLoadFailed
from hubserve.runtimes.base import Array, LoadedEncoder, LoadSpec


class RecordingSession:
    """Answers each row with input_ids * 10 and records how many forwards overlap and in which order."""

    input_names = ("input_ids", "attention_mask")

    def __init__(self, parallel: int, meet: int = 0, fail_on: int | None = None) -> None:
        self.parallel = parallel
        # The first ``meet`` forwards wait for one another: they run at once, or the test fails.
        self.meet = threading.Barrier(meet) if meet else None
        self.release = threading.Event()  # forwards after the first ``meet`` wait for it
        self.release.set()
        self.fail_on = fail_on
        self.running = 0
        self.most_at_once = 0
        self.started: list[int] = []
        self._lock = threading.Lock()

    def run(self, inputs: dict[str, Array]) -> dict[str, Array]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.started.append(int(inputs["input_ids"][0, 0]))
            index = len(self.started) - 1
        try:
            if self.meet is not None and index < self.meet.parties:
                self.meet.wait(timeout=10)
            assert self.release.wait(10), "the test never let the forwards go"
            if self.fail_on is not None and self.fail_on in inputs["input_ids"]:
                raise ModelLoadFailed("broken row")
            return {"logits": inputs["input_ids"].astype(np.float32) * 10}
        finally:
            with self._lock:
                self.running -= 1


def _encoder(session: RecordingSession) -> LoadedEncoder:
    spec = LoadSpec("t/m", "r", Path("."), "onnx", "base", session.parallel, Path("."))
    return LoadedEncoder(spec=spec, runtime="onnx", tokenizer=None, session=session, max_length=16)


def _batch(first: int, rows: int, width: int = 3) -> dict[str, Any]:
    ids = np.arange(first, first + rows)[:, None].repeat(width, axis=1)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def test_rows_split_over_the_threads_come_back_in_order() -> None:
    session = RecordingSession(parallel=2, meet=2)
    model = _encoder(session)
    try:
        out = model.forward(_batch(1, 5))["logits"]
    finally:
        model.close()
    np.testing.assert_array_equal(out[:, 0], [10, 20, 30, 40, 50])
    assert sorted(session.started) == [1, 3], "5 rows as 2 + 3"
    assert session.most_at_once == 2


def test_one_row_is_not_split() -> None:
    session = RecordingSession(parallel=2)
    model = _encoder(session)
    try:
        assert model.forward(_batch(7, 1))["logits"].shape == (1, 3)
    finally:
        model.close()
    assert session.started == [7]


def test_forwards_from_many_callers_never_exceed_the_threads_and_go_first_come_first_served() -> None:
    session = RecordingSession(parallel=2, meet=2)
    model = _encoder(session)
    try:
        first = model.forward_many([_batch(100, 2), _batch(200, 2), _batch(300, 2)])
        with ThreadPoolExecutor(4) as callers:
            outs = list(callers.map(lambda n: model.forward_many([_batch(n, 2)])[0], [10, 20, 30, 40]))
    finally:
        model.close()
    assert [o["logits"][0, 0] for o in first] == [1000, 2000, 3000]
    assert [o["logits"][0, 0] for o in outs] == [100, 200, 300, 400]
    assert sorted(session.started[:2]) == [100, 200] and session.started[2] == 300
    assert session.most_at_once == 2


def test_a_failing_forward_raises_to_its_caller_and_the_pool_goes_on() -> None:
    session = RecordingSession(parallel=2, fail_on=4)
    model = _encoder(session)
    try:
        with pytest.raises(ModelLoadFailed, match="broken row"):
            model.forward(_batch(1, 4))
        assert model.forward(_batch(5, 2))["logits"][:, 0].tolist() == [50, 60]
    finally:
        model.close()


def test_a_one_thread_session_runs_one_forward_at_a_time() -> None:
    session = RecordingSession(parallel=1)
    session.release.clear()  # every forward waits until all three callers have sent theirs
    model = _encoder(session)
    try:
        with ThreadPoolExecutor(3) as callers:
            sent = [callers.submit(model.forward, _batch(n, 4)) for n in [1, 2, 3]]
            session.release.set()
            [f.result(timeout=10) for f in sent]
    finally:
        model.close()
    assert session.most_at_once == 1
    assert len(session.started) == 3, "a one-thread session is never split"
