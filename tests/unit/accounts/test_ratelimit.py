"""Rate limits: tier specs, fixed windows in memory and in a real Redis, and the headers clients parse."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable

import httpx
import pytest
import redis
from huggingface_hub.utils import parse_ratelimit_headers

from hubserve import errors
from hubserve.accounts.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimitBackendDown,
    RateLimiter,
    RedisRateLimiter,
    Tier,
    Window,
    make_rate_limiter,
    parse_tiers,
)
from tests.conftest import free_port


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tier(*windows: tuple[int, int]) -> Tier:
    return Tier("t", tuple(Window(limit, seconds) for limit, seconds in windows))


# --- parse_tiers ---------------------------------------------------------------------------------------


def test_parse_tiers_example() -> None:
    tiers = parse_tiers("anonymous=300/1h;free=300/1h,30/1m;pro=10000/1h;unlimited=none")
    assert tiers == {
        "anonymous": Tier("anonymous", (Window(300, 3600),)),
        "free": Tier("free", (Window(300, 3600), Window(30, 60))),
        "pro": Tier("pro", (Window(10000, 3600),)),
        "unlimited": Tier("unlimited", ()),
    }
    assert tiers["unlimited"].unlimited
    assert not tiers["free"].unlimited


def test_parse_tiers_units_and_spacing() -> None:
    tiers = parse_tiers(" a = 5/30 , 6/7s ; b=1/2d,2/3h ; c=7/m ; ")
    assert tiers["a"].windows == (Window(5, 30), Window(6, 7))
    assert tiers["b"].windows == (Window(1, 172800), Window(2, 10800))
    assert tiers["c"].windows == (Window(7, 60),)


@pytest.mark.parametrize("spec", ["x=none", "x=NONE", "x=", "x= "])
def test_parse_tiers_unlimited_forms(spec: str) -> None:
    assert parse_tiers(spec)["x"].unlimited


def test_parse_tiers_empty_spec() -> None:
    assert parse_tiers("") == {}
    assert parse_tiers(" ; ") == {}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("free", "'free'"),
        ("=10/1h", "'=10/1h'"),
        ("free=abc", "'abc'"),
        ("free=10/1w", "'10/1w'"),
        ("free=10/", "'10/'"),
        ("free=10/1h,", "''"),
        ("free=-1/1h", "'-1/1h'"),
        ("free=0/1h", "'0/1h'"),
        ("free=5/0s", "'5/0s'"),
        ("free=1/1h;free=2/1h", "'free' is defined twice"),
        ("free=1/1m,2/60s", "two windows of 60s"),
    ],
)
def test_parse_tiers_bad_specs(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        parse_tiers(spec)


# --- both backends: the same fixed-window semantics ----------------------------------------------------

Factory = Callable[[FakeClock], RateLimiter]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Factory:
    if request.param == "memory":
        return lambda clock: MemoryRateLimiter(clock)
    url: str = request.getfixturevalue("redis_url")
    return lambda clock: RedisRateLimiter(url, clock)


def new_key() -> str:
    return f"token:{uuid.uuid4().hex}"  # the Redis server lives for the whole session


def test_limit_reached_then_window_rolls_over(make: Factory) -> None:
    async def scenario() -> None:
        clock = FakeClock(130.5)  # window [120, 180)
        rl, key, t = make(clock), new_key(), tier((3, 60))
        got = [await rl.hit(key, t) for _ in range(3)]
        assert [d.remaining for d in got] == [2, 1, 0]
        assert all(d.allowed and d.limit == 3 and d.window_s == 60 and d.reset_s == 50 for d in got)
        assert await rl.hit(key, t) == Decision(allowed=False, limit=3, remaining=0, reset_s=50, window_s=60)
        clock.now = 179.9
        assert (await rl.hit(key, t)).reset_s == 1  # ceil, never 0
        clock.now = 180.0
        assert await rl.hit(key, t) == Decision(allowed=True, limit=3, remaining=2, reset_s=60, window_s=60)
        assert (await rl.hit(new_key(), t)).remaining == 2  # keys are separate
        await rl.close()

    asyncio.run(scenario())


def test_short_window_binds_first_then_long_one(make: Factory) -> None:
    async def scenario() -> None:
        clock = FakeClock(7230.0)
        rl, key, t = make(clock), new_key(), tier((5, 3600), (2, 60))
        assert (await rl.hit(key, t)).remaining == 1
        d = await rl.hit(key, t)
        assert (d.allowed, d.remaining, d.window_s) == (True, 0, 60)
        assert await rl.hit(key, t) == Decision(allowed=False, limit=2, remaining=0, reset_s=30, window_s=60)
        clock.now = 7260.0
        assert (await rl.hit(key, t)).window_s == 60
        d = await rl.hit(key, t)
        assert (d.allowed, d.remaining, d.window_s) == (True, 0, 60)
        clock.now = 7320.0  # hour count is 4: the denied hit was not counted
        d = await rl.hit(key, t)
        assert d == Decision(allowed=True, limit=5, remaining=0, reset_s=3480, window_s=3600)
        d = await rl.hit(key, t)
        assert d == Decision(allowed=False, limit=5, remaining=0, reset_s=3480, window_s=3600)
        await rl.close()

    asyncio.run(scenario())


def test_denied_hits_count_in_no_window(make: Factory) -> None:
    async def scenario() -> None:
        clock = FakeClock(0.0)
        rl, key, t = make(clock), new_key(), tier((3, 3600), (1, 60))
        assert (await rl.hit(key, t)).allowed
        assert not any([(await rl.hit(key, t)).allowed for _ in range(5)])
        clock.now = 60.0
        assert (await rl.hit(key, t)).allowed
        clock.now = 120.0
        d = await rl.hit(key, t)
        assert (d.allowed, d.remaining, d.window_s) == (True, 0, 3600)
        await rl.close()

    asyncio.run(scenario())


def test_ties_pick_the_longest_reset(make: Factory) -> None:
    async def scenario() -> None:
        rl, key, t = make(FakeClock(10.0)), new_key(), tier((1, 60), (1, 3600))
        assert await rl.hit(key, t) == Decision(
            allowed=True, limit=1, remaining=0, reset_s=3590, window_s=3600
        )
        assert await rl.hit(key, t) == Decision(
            allowed=False, limit=1, remaining=0, reset_s=3590, window_s=3600
        )
        await rl.close()

    asyncio.run(scenario())


def test_unlimited_tier_counts_nothing(make: Factory) -> None:
    async def scenario() -> None:
        rl, key = make(FakeClock(0.0)), new_key()
        for _ in range(500):
            d = await rl.hit(key, Tier("unlimited", ()))
            assert d.allowed
            assert d.limit == 0
            assert d.headers() == {}
        await rl.close()

    asyncio.run(scenario())


# --- memory backend ------------------------------------------------------------------------------------


def test_memory_sweep_keeps_state_bounded() -> None:
    async def scenario() -> None:
        clock = FakeClock(0.0)
        rl = MemoryRateLimiter(clock, sweep_every=100)
        t = tier((5, 10), (50, 60))
        sizes = []
        for i in range(10_000):
            clock.now = float(i)
            assert (await rl.hit(f"ip:{i}", t)).allowed
            sizes.append(len(rl._slots))
        # At most the keys of the last 100 hits plus those whose window had not ended at the last sweep.
        assert max(sizes) <= 2 * (100 + 60)
        await rl.close()
        assert not rl._slots

    asyncio.run(scenario())


def test_memory_stale_window_is_replaced_on_access() -> None:
    async def scenario() -> None:
        clock = FakeClock(0.0)
        rl = MemoryRateLimiter(clock)
        for _ in range(3):
            await rl.hit("k", tier((3, 10)))
        clock.now = 1000.0
        assert (await rl.hit("k", tier((3, 10)))).remaining == 2
        assert rl._slots == {("k", 10): (1000, 1)}

    asyncio.run(scenario())


# --- headers -------------------------------------------------------------------------------------------


def test_headers_allowed_parse_with_huggingface_hub() -> None:
    d = Decision(allowed=True, limit=300, remaining=299, reset_s=1234, window_s=3600)
    h = d.headers()
    assert h == {
        "RateLimit": '"api";r=299;t=1234',
        "RateLimit-Policy": '"fixed window";"api";q=300;w=3600',
        "x-ratelimit-limit": "300",
        "x-ratelimit-remaining": "299",
        "x-ratelimit-reset": "1234",
    }
    info = parse_ratelimit_headers(h)
    assert info is not None
    assert (info.resource_type, info.remaining, info.reset_in_seconds) == ("api", 299, 1234)
    assert (info.limit, info.window_seconds) == (300, 3600)


def test_headers_denied_add_retry_after() -> None:
    d = Decision(allowed=False, limit=30, remaining=0, reset_s=17, window_s=60)
    h = d.headers()
    assert h["Retry-After"] == "17"
    info = parse_ratelimit_headers(httpx.Headers(h))
    assert info is not None
    assert (info.remaining, info.reset_in_seconds, info.limit, info.window_seconds) == (0, 17, 30, 60)


def test_headers_from_a_real_hit_parse() -> None:
    async def scenario() -> None:
        d = await MemoryRateLimiter(FakeClock(90.0)).hit("k", tier((10, 60)))
        info = parse_ratelimit_headers(httpx.Headers(d.headers()))
        assert info is not None
        assert (info.remaining, info.reset_in_seconds, info.limit, info.window_seconds) == (9, 30, 10, 60)

    asyncio.run(scenario())


# --- Redis ---------------------------------------------------------------------------------------------


def test_redis_two_gateways_admit_exactly_the_limit(redis_url: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(1_000_000.0)  # the same instant for both, far from a day boundary
        a, b = RedisRateLimiter(redis_url, clock), RedisRateLimiter(redis_url, clock)
        key, t = new_key(), Tier("free", (Window(137, 86400), Window(1000, 3600)))
        got = await asyncio.gather(*[(a if i % 2 else b).hit(key, t) for i in range(200)])
        allowed = [d for d in got if d.allowed]
        denied = [d for d in got if not d.allowed]
        assert len(allowed) == 137
        assert sorted(d.remaining for d in allowed) == list(range(137))  # each hit saw its own count
        assert len(denied) == 63
        for d in denied:
            assert d.remaining == 0
            assert d.window_s == 86400
            assert d.headers()["Retry-After"] == str(d.reset_s)
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_redis_keys_expire_just_after_their_window(redis_url: str) -> None:
    key = new_key()

    async def scenario() -> None:
        rl = RedisRateLimiter(redis_url, FakeClock(1_000_030.0))
        await rl.hit(key, tier((5, 60)))
        await rl.close()

    asyncio.run(scenario())
    client = redis.Redis.from_url(redis_url)
    start = 1_000_020  # floor(1_000_030 / 60) * 60
    ttl = client.ttl(f"hubserve:rl:{{{key}}}:60:{start}")
    client.close()
    assert 50 - 1 <= ttl <= 50 + 5  # 50 s left in the window plus a little grace


def test_redis_down_fails_closed_with_503() -> None:
    async def scenario() -> None:
        rl = RedisRateLimiter(f"redis://:s3cret@127.0.0.1:{free_port()}/0")
        with pytest.raises(RateLimitBackendDown) as info:
            await rl.hit("ip:1.2.3.4", tier((1, 60)))
        await rl.close()
        assert isinstance(info.value, errors.HubserveError)
        assert (info.value.status_code, info.value.error_type) == (503, "rate_limit_unavailable")
        assert "s3cret" not in str(info.value)

    asyncio.run(scenario())
    assert errors.by_type("rate_limit_unavailable") is RateLimitBackendDown


def test_make_rate_limiter_picks_the_backend(redis_url: str) -> None:
    async def scenario() -> None:
        memory, shared = make_rate_limiter(""), make_rate_limiter(redis_url)
        assert isinstance(memory, MemoryRateLimiter)
        assert isinstance(shared, RedisRateLimiter)
        assert (await shared.hit(new_key(), tier((2, 60)))).remaining == 1
        await memory.close()
        await shared.close()

    asyncio.run(scenario())
