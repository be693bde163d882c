"""Per-caller rate limits over fixed, epoch-aligned windows, kept in memory or shared through Redis."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hubserve.durations import UNITS
from hubserve.errors import HubserveError

_WINDOW_RE = re.compile(r"(\d+)/(\d*)([smhd]?)")
_EXPIRY_GRACE_S = 5  # keeps a Redis window alive a little past its end, for gateways whose clocks lag


class RateLimitBackendDown(HubserveError):
    """The shared rate-limit store cannot be reached; requests are refused rather than let through."""

    status_code = 503
    error_type = "rate_limit_unavailable"

    @property
    def headers(self) -> dict[str, str]:
        """A short outage: come back soon."""
        return {"Retry-After": "2"}


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests per ``seconds``."""

    limit: int
    seconds: int


@dataclass(frozen=True)
class Tier:
    """A named set of windows, all of which must have room; no windows means unlimited."""

    name: str
    windows: tuple[Window, ...]

    @property
    def unlimited(self) -> bool:
        """Whether this tier counts nothing and allows everything."""
        return not self.windows


def parse_tiers(spec: str) -> dict[str, Tier]:
    """Parse ``"free=300/1h,30/1m;pro=10000/1h;admin=none"`` (units s, m, h, d; bare number = seconds)."""
    tiers: dict[str, Tier] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, sep, body = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ValueError(f"rate-limit tier {part!r} is not of the form name=limit/window[,...]")
        if name in tiers:
            raise ValueError(f"rate-limit tier {name!r} is defined twice")
        windows: list[Window] = []
        if body.lower() not in ("", "none"):
            for item in (w.strip() for w in body.split(",")):
                m = _WINDOW_RE.fullmatch(item)
                if m is None or not (m[2] or m[3]):
                    raise ValueError(f"rate-limit tier {name!r}: bad window {item!r} (want e.g. 30/1m)")
                limit, seconds = int(m[1]), int(m[2] or "1") * UNITS[m[3] or "s"]
                if limit < 1 or seconds < 1:
                    raise ValueError(f"rate-limit tier {name!r}: window {item!r} needs limit and length >= 1")
                if any(w.seconds == seconds for w in windows):
                    raise ValueError(f"rate-limit tier {name!r}: two windows of {seconds}s")
                windows.append(Window(limit, seconds))
        tiers[name] = Tier(name, tuple(windows))
    return tiers


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit, described by its binding window; ``limit == 0`` marks an unlimited tier."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    window_s: int

    def headers(self) -> dict[str, str]:
        """IETF RateLimit headers as huggingface_hub parses them, x-ratelimit-*, Retry-After on denial."""
        if self.limit == 0:
            return {}
        out = {
            "RateLimit": f'"api";r={self.remaining};t={self.reset_s}',
            "RateLimit-Policy": f'"fixed window";"api";q={self.limit};w={self.window_s}',
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_s),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_s)
        return out


UNLIMITED = Decision(allowed=True, limit=0, remaining=0, reset_s=1, window_s=0)


def _window_start(now: float, w: Window) -> int:
    return math.floor(now / w.seconds) * w.seconds


def _reset_s(now: float, w: Window) -> int:
    return max(1, math.ceil(_window_start(now, w) + w.seconds - now))


def _decide(tier: Tier, now: float, allowed: bool, counts: Sequence[int]) -> Decision:
    """Pick the binding window from the counts after an allowed hit, or the current counts on a denial."""
    ws = [(w, max(0, w.limit - c), _reset_s(now, w)) for w, c in zip(tier.windows, counts, strict=True)]
    if allowed:
        w, left, reset = min(ws, key=lambda x: (x[1], -x[2]))
    else:
        w, left, reset = max((x for x in ws if x[1] == 0), key=lambda x: x[2])
    return Decision(allowed=allowed, limit=w.limit, remaining=left, reset_s=reset, window_s=w.seconds)


class RateLimiter(Protocol):
    """Counts requests per caller key against a tier."""

    async def hit(self, key: str, tier: Tier) -> Decision:
        """Count one request for ``key`` (e.g. ``token:<id>``, ``ip:1.2.3.4``) if every window has room."""
        ...

    async def close(self) -> None:
        """Release the backend's resources."""
        ...


class MemoryRateLimiter:
    """Counters in this process only; expired windows are dropped on access and by a periodic sweep."""

    def __init__(self, clock: Callable[[], float] = time.time, *, sweep_every: int = 1000) -> None:
        self._clock = clock
        self._sweep_every = sweep_every
        self._hits = 0
        self._slots: dict[tuple[str, int], tuple[int, int]] = {}  # (key, window_s) -> (start, count)

    async def hit(self, key: str, tier: Tier) -> Decision:
        """Check and count with no await in between, so concurrent hits cannot overshoot."""
        if tier.unlimited:
            return UNLIMITED
        now = self._clock()
        self._hits += 1
        if self._hits % self._sweep_every == 0:
            self._sweep(now)
        starts = [_window_start(now, w) for w in tier.windows]
        counts = []
        for w, start in zip(tier.windows, starts, strict=True):
            slot = self._slots.get((key, w.seconds))
            counts.append(slot[1] if slot is not None and slot[0] == start else 0)
        allowed = all(c < w.limit for w, c in zip(tier.windows, counts, strict=True))
        if allowed:
            counts = [c + 1 for c in counts]
            for w, start, c in zip(tier.windows, starts, counts, strict=True):
                self._slots[(key, w.seconds)] = (start, c)
        return _decide(tier, now, allowed, counts)

    def _sweep(self, now: float) -> None:
        expired = [k for k, (start, _) in self._slots.items() if start + k[1] <= now]
        for k in expired:
            del self._slots[k]

    async def close(self) -> None:
        """Forget every counter."""
        self._slots.clear()


# KEYS: one counter per window; ARGV: the limits, then the TTLs. Returns {allowed, count per window}.
_HIT_LUA = """
local out, ok, n = {}, 1, #KEYS
for i = 1, n do
  out[i + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if out[i + 1] >= tonumber(ARGV[i]) then ok = 0 end
end
if ok == 1 then
  for i = 1, n do
    out[i + 1] = redis.call('INCR', KEYS[i])
    if out[i + 1] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
  end
end
out[1] = ok
return out
"""


class RedisRateLimiter:
    """Counters in Redis shared by every gateway process; one atomic Lua script per hit."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time, *, timeout_s: float = 2.0) -> None:
        self._clock = clock
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self._script = self._redis.register_script(_HIT_LUA)

    async def hit(self, key: str, tier: Tier) -> Decision:
        """Check every window and count in all of them, or in none, in one script run."""
        if tier.unlimited:
            return UNLIMITED
        now = self._clock()
        # The braces make the caller key a hash tag, so a Redis Cluster keeps a tier's keys in one slot.
        keys = [f"hubserve:rl:{{{key}}}:{w.seconds}:{_window_start(now, w)}" for w in tier.windows]
        ttls = [_reset_s(now, w) + _EXPIRY_GRACE_S for w in tier.windows]
        try:
            reply = await self._script(keys=keys, args=[w.limit for w in tier.windows] + ttls)
        except RedisError as e:
            # The URL may hold a password and this message reaches the client: the cause stays in the chain.
            raise RateLimitBackendDown("the rate-limit store is unavailable; retry later") from e
        return _decide(tier, now, bool(reply[0]), [int(c) for c in reply[1:]])

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def make_rate_limiter(redis_url: str, clock: Callable[[], float] = time.time) -> RateLimiter:
    """A Redis-backed limiter when ``redis_url`` is set, else an in-process one."""
    return RedisRateLimiter(redis_url, clock) if redis_url else MemoryRateLimiter(clock)
