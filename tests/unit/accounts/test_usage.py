from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.schema import UsageRecord
from hubserve.accounts.usage import UsageEvent, UsageRecorder, query_usage
from hubserve.errors import ValidationFailed

HOUR_MS = 3_600_000
BASE = 472_222 * HOUR_MS  # 2023-11-14T22:00:00Z, a multiple of 2 h as well


def event(at_ms: int = BASE, request_id: str | None = None, **fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "request_id": request_id or uuid.uuid4().hex,
        "at_ms": at_ms,
        "account_id": 10,
        "token_id": 1,
        "client": "token:1",
        "model": "acme/tiny",
        "task": "text-classification",
        "route": "hf",
        "status": 200,
        "input_count": 1,
        "output_count": 1,
        "unit": "items",
        "compute_ms": 1,
        "cache_hit": False,
    }
    return UsageEvent(**(values | fields))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def request_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(UsageRecord.request_id)))


def row_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(UsageRecord)) or 0)


def record_all(engine: Engine, events: list[UsageEvent]) -> None:
    async def main() -> None:
        recorder = UsageRecorder(engine)
        for e in events:
            recorder.record(e)
        await recorder.close()
        assert recorder.pending == 0

    asyncio.run(main())


# --- the recorder ---------------------------------------------------------------------------------


def test_a_batch_larger_than_one_insert_lands_row_for_row(engine: Engine) -> None:
    events = [
        event(at_ms=BASE + i, status=200 + i % 3, input_count=i, cache_hit=i % 2 == 0, token_id=None)
        for i in range(150)  # SQLite writes 64 rows a statement: three statements, one transaction
    ]
    record_all(engine, events)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                UsageRecord.request_id,
                UsageRecord.at_ms,
                UsageRecord.status,
                UsageRecord.input_count,
                UsageRecord.cache_hit,
                UsageRecord.token_id,
            ).order_by(UsageRecord.at_ms)
        ).all()
    assert [tuple(r) for r in rows] == [
        (e.request_id, e.at_ms, e.status, e.input_count, e.cache_hit, None) for e in events
    ]


def test_concurrent_records_and_flushes_lose_nothing(engine: Engine) -> None:
    ids = [uuid.uuid4().hex for _ in range(2000)]

    async def main() -> None:
        recorder = UsageRecorder(engine, flush_every_s=0.005, max_batch=64)
        await recorder.start()

        async def producer(chunk: list[str]) -> None:
            for i, request_id in enumerate(chunk):
                recorder.record(event(BASE + i, request_id))
                await asyncio.sleep(0)

        async def flusher() -> None:
            for _ in range(20):
                await recorder.flush()
                await asyncio.sleep(0)

        await asyncio.gather(*(producer(ids[i::50]) for i in range(50)), flusher(), flusher())
        await recorder.close()
        assert recorder.pending == 0
        assert recorder.dropped == 0

    asyncio.run(main())
    stored = request_ids(engine)
    assert len(stored) == 2000
    assert sorted(stored) == sorted(ids)


def test_two_recorders_on_two_engines_share_one_database(db_url: str) -> None:
    """Like two gateway processes: each its own engine, loop and recorder, writing at the same time."""

    def gateway(prefix: str) -> list[str]:
        engine = make_engine(db_url)
        ids = [f"{prefix}-{i}" for i in range(1000)]

        async def main() -> None:
            recorder = UsageRecorder(engine, flush_every_s=0.002, max_batch=25)
            await recorder.start()
            for i, request_id in enumerate(ids):
                recorder.record(event(BASE + i, request_id))
                if i % 10 == 0:
                    await asyncio.sleep(0)
            await recorder.close()
            assert recorder.pending == 0

        try:
            asyncio.run(main())
        finally:
            engine.dispose()
        return ids

    with ThreadPoolExecutor(2) as pool:
        expected = [request_id for ids in pool.map(gateway, ["a", "b"]) for request_id in ids]
    check = make_engine(db_url)
    try:
        assert sorted(request_ids(check)) == sorted(expected)
    finally:
        check.dispose()


def test_sqlite_missing_table_keeps_events_until_migrated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(default_url(tmp_path))  # not migrated: the table is missing

    async def main() -> None:
        recorder = UsageRecorder(engine, max_batch=2)
        for i in range(5):
            recorder.record(event(BASE + i, f"r{i}"))
        with caplog.at_level(logging.ERROR, logger="hubserve.accounts.usage"):
            assert await recorder.flush() == 0
            assert await recorder.flush() == 0
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        assert recorder.pending == 5
        recorder.record(event(BASE + 5, "r5"))
        migrate(engine)
        assert await recorder.flush() == 6
        assert recorder.pending == 0

    try:
        asyncio.run(main())
        assert sorted(request_ids(engine)) == [f"r{i}" for i in range(6)]
    finally:
        engine.dispose()


def test_failed_write_keeps_order_for_the_retry(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = UsageRecorder._write

    def flaky(self: UsageRecorder, batch: list[UsageEvent]) -> int:
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError("database went away")
        return original(self, batch)

    monkeypatch.setattr(UsageRecorder, "_write", flaky)

    async def main() -> None:
        recorder = UsageRecorder(engine, max_batch=3)
        for i in range(7):
            recorder.record(event(BASE + i, f"r{i}"))
        assert await recorder.flush() == 3  # the second batch failed; the third was not tried
        assert recorder.pending == 4
        assert await recorder.flush() == 4

    asyncio.run(main())
    assert calls == [3, 3, 3, 1]
    assert sorted(request_ids(engine)) == [f"r{i}" for i in range(7)]


def test_write_that_committed_but_raised_is_retried_without_duplicates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = UsageRecorder._write
    lost_ack = [True]

    def commit_then_raise(self: UsageRecorder, batch: list[UsageEvent]) -> int:
        written = original(self, batch)
        if lost_ack:
            lost_ack.pop()
            raise ConnectionResetError("connection lost after COMMIT")
        return written

    monkeypatch.setattr(UsageRecorder, "_write", commit_then_raise)

    async def main() -> None:
        recorder = UsageRecorder(engine)
        for i in range(3):
            recorder.record(event(BASE + i, f"r{i}"))
        assert await recorder.flush() == 0
        assert recorder.pending == 3
        assert await recorder.flush() == 0  # every id is already there: nothing new, nothing raised
        assert recorder.pending == 0

    asyncio.run(main())
    assert sorted(request_ids(engine)) == ["r0", "r1", "r2"]


def test_retry_after_an_ambiguous_failure_does_not_duplicate(engine: Engine) -> None:
    record_all(engine, [event(BASE, "done-1"), event(BASE, "done-2")])
    # The batch holds ids that were committed although the writer never heard back, and one twice.
    record_all(
        engine, [event(BASE, "new-1"), event(BASE, "done-1"), event(BASE, "new-2"), event(BASE, "new-1")]
    )
    assert sorted(request_ids(engine)) == ["done-1", "done-2", "new-1", "new-2"]


def test_overflow_drops_the_oldest_and_counts_them(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        recorder = UsageRecorder(engine, max_buffer=5)
        with caplog.at_level(logging.WARNING, logger="hubserve.accounts.usage"):
            for i in range(8):
                recorder.record(event(BASE + i, f"r{i}"))
        assert recorder.pending == 5
        assert recorder.dropped == 3
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        await recorder.close()

    asyncio.run(main())
    assert sorted(request_ids(engine)) == [f"r{i}" for i in range(3, 8)]


def test_close_flushes_what_the_periodic_flusher_has_not(engine: Engine) -> None:
    async def main() -> None:
        recorder = UsageRecorder(engine, flush_every_s=3600)
        await recorder.start()
        for i in range(10):
            recorder.record(event(BASE + i))
        await asyncio.sleep(0)  # the periodic flusher runs to its long wait
        assert recorder.pending == 10
        await recorder.close()
        assert recorder.pending == 0

    asyncio.run(main())
    assert row_count(engine) == 10


def test_sqlite_locked_database_stalls_the_flush_not_the_loop(tmp_path: Path) -> None:
    """A writer holding the SQLite lock stalls the flush thread, not the event loop."""
    engine = make_engine(default_url(tmp_path))
    migrate(engine)
    blocker = make_engine(default_url(tmp_path))

    async def main() -> None:
        recorder = UsageRecorder(engine)
        with blocker.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            recorder.record(event())
            flush = asyncio.create_task(recorder.flush())
            # The loop goes on while the flush's thread waits for the lock this coroutine holds: a
            # flush on the loop itself would never let this wait end (no timing is asserted).
            done, _ = await asyncio.wait({flush}, timeout=0.2)
            recorder.record(event())
            assert not done
            connection.rollback()
        assert await flush == 1
        assert await recorder.flush() == 1

    try:
        asyncio.run(main())
        assert row_count(engine) == 2
    finally:
        engine.dispose()
        blocker.dispose()


# --- query_usage ----------------------------------------------------------------------------------


@pytest.fixture
def sample(engine: Engine) -> Engine:
    record_all(
        engine,
        [
            event(BASE - 1, model="a/x"),  # before the period
            event(
                BASE + 1000,
                token_id=1,
                model="a/x",
                unit="tokens",
                input_count=10,
                output_count=20,
                compute_ms=5,
            ),
            event(
                BASE + 2000,
                token_id=1,
                model="a/x",
                unit="tokens",
                input_count=3,
                output_count=0,
                status=500,
                compute_ms=7,
                cache_hit=True,
            ),
            event(
                BASE + HOUR_MS + 5,
                token_id=2,
                account_id=11,
                model="b/y",
                input_count=4,
                output_count=4,
                compute_ms=11,
                cache_hit=True,
            ),
            event(
                BASE + 2 * HOUR_MS + 10,
                token_id=2,
                model="a/x",
                status=429,
                input_count=1,
                output_count=0,
                compute_ms=0,
            ),
            event(BASE + 3 * HOUR_MS, model="a/x"),  # the period's end is excluded
        ],
    )
    return engine


def totals(**values: int) -> dict[str, int]:
    keys = (
        "requests errors cache_hits input_tokens output_tokens input_items output_items input_chars "
        "output_chars input_audio_ms output_images compute_ms"
    )
    return {key: values.get(key, 0) for key in keys.split()}


def test_query_totals_series_and_models(sample: Engine) -> None:
    usage = query_usage(sample, start_ms=BASE, end_ms=BASE + 3 * HOUR_MS)
    assert usage["period"] == {
        "start": "2023-11-14T22:00:00Z",
        "end": "2023-11-15T01:00:00Z",
        "interval_s": 3600,
    }
    assert usage["totals"] == totals(
        requests=4,
        errors=2,
        cache_hits=2,
        input_tokens=13,
        output_tokens=20,
        input_items=5,
        output_items=4,
        compute_ms=23,
    )
    assert usage["series"] == [
        {
            "start": "2023-11-14T22:00:00Z",
            **totals(requests=2, errors=1, cache_hits=1, input_tokens=13, output_tokens=20, compute_ms=12),
        },
        {
            "start": "2023-11-14T23:00:00Z",
            **totals(requests=1, cache_hits=1, input_items=4, output_items=4, compute_ms=11),
        },
        {"start": "2023-11-15T00:00:00Z", **totals(requests=1, errors=1, input_items=1)},
    ]
    assert [(m["model"], m["requests"]) for m in usage["by_model"]] == [("a/x", 3), ("b/y", 1)]
    assert usage["by_model"][0] == {
        "model": "a/x",
        **totals(
            requests=3,
            errors=2,
            cache_hits=1,
            input_tokens=13,
            output_tokens=20,
            input_items=1,
            compute_ms=12,
        ),
    }


def test_query_buckets_align_to_epoch_multiples(sample: Engine) -> None:
    two_hours = query_usage(sample, start_ms=BASE, end_ms=BASE + 3 * HOUR_MS, interval_s=7200)
    assert [(s["start"], s["requests"]) for s in two_hours["series"]] == [
        ("2023-11-14T22:00:00Z", 3),
        ("2023-11-15T00:00:00Z", 1),
    ]
    # A period that starts inside a bucket still reports that bucket by its aligned start.
    late = query_usage(sample, start_ms=BASE + HOUR_MS, end_ms=BASE + 3 * HOUR_MS, interval_s=7200)
    assert late["period"]["start"] == "2023-11-14T23:00:00Z"
    assert [(s["start"], s["requests"]) for s in late["series"]] == [
        ("2023-11-14T22:00:00Z", 1),
        ("2023-11-15T00:00:00Z", 1),
    ]
    per_minute = query_usage(sample, start_ms=BASE, end_ms=BASE + HOUR_MS, interval_s=60)
    assert [(s["start"], s["requests"]) for s in per_minute["series"]] == [("2023-11-14T22:00:00Z", 2)]


@pytest.mark.parametrize(
    ("filters", "requests"),
    [
        ({"token_id": 1}, 2),
        ({"token_id": 2}, 2),
        ({"token_id": 3}, 0),
        ({"account_id": 11}, 1),
        ({"model": "b/y"}, 1),
        ({"model": "a/x", "token_id": 2}, 1),
        ({"start_ms": BASE + HOUR_MS}, 2),
        ({"end_ms": BASE + HOUR_MS}, 2),
        ({"start_ms": BASE - 1, "end_ms": BASE + 3 * HOUR_MS + 1}, 6),
    ],
)
def test_query_filters(sample: Engine, filters: dict[str, Any], requests: int) -> None:
    period = {"start_ms": BASE, "end_ms": BASE + 3 * HOUR_MS} | filters
    usage = query_usage(sample, **period)
    assert usage["totals"]["requests"] == requests
    assert sum(s["requests"] for s in usage["series"]) == requests
    assert sum(m["requests"] for m in usage["by_model"]) == requests


def test_speech_and_text_units_total_apart(engine: Engine) -> None:
    record_all(
        engine,
        [
            event(
                BASE, task="automatic-speech-recognition", unit="audio_ms", input_count=2500, output_count=0
            ),
            event(BASE, task="text-to-speech", unit="chars", input_count=40, output_count=0),
            event(BASE, task="summarization", unit="chars", input_count=300, output_count=60),
            event(BASE, unit="items", input_count=3, output_count=3),
        ],
    )
    usage = query_usage(engine, start_ms=BASE, end_ms=BASE + HOUR_MS)
    assert usage["totals"] == totals(
        requests=4,
        input_audio_ms=2500,
        input_chars=340,
        output_chars=60,
        input_items=3,
        output_items=3,
        compute_ms=4,
    )


def test_query_empty_period(engine: Engine) -> None:
    usage = query_usage(engine, start_ms=BASE, end_ms=BASE + HOUR_MS)
    assert usage["totals"] == totals()
    assert usage["series"] == []
    assert usage["by_model"] == []


def test_query_defaults_to_the_last_day(engine: Engine) -> None:
    now = BASE + 30 * 60_000  # half past an hour: the two events fall in two hourly buckets
    record_all(engine, [event(now - HOUR_MS), event(now - 25 * HOUR_MS), event(now - 23 * HOUR_MS)])
    usage = query_usage(engine, clock=lambda: now / 1000)
    assert usage["totals"]["requests"] == 2
    assert usage["period"]["interval_s"] == 3600
    assert len(usage["series"]) == 2


def test_query_ms_precision_in_period(engine: Engine) -> None:
    usage = query_usage(engine, start_ms=BASE + 1, end_ms=BASE + 60_000)
    assert usage["period"]["start"] == "2023-11-14T22:00:00.001Z"
    assert usage["period"]["end"] == "2023-11-14T22:01:00Z"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval_s": 59}, "interval_s must be between 60"),
        ({"interval_s": 31 * 86_400 + 1}, "interval_s must be between 60"),
        ({"start_ms": BASE, "end_ms": BASE}, "must come before its end"),
        ({"start_ms": BASE + 1, "end_ms": BASE}, "must come before its end"),
        ({"start_ms": BASE, "end_ms": BASE + 10_001 * 60_000, "interval_s": 60}, "at most 10000"),
        ({"start_ms": BASE + 1, "end_ms": BASE + 10_000 * 60_000 + 1, "interval_s": 60}, "at most 10000"),
    ],
)
def test_query_validation(engine: Engine, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationFailed, match=match) as caught:
        query_usage(engine, **kwargs)
    assert caught.value.status_code == 422


def test_query_allows_exactly_the_bucket_limit(engine: Engine) -> None:
    usage = query_usage(engine, start_ms=BASE, end_ms=BASE + 10_000 * 60_000, interval_s=60)
    assert usage["totals"]["requests"] == 0
