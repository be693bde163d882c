"""AccessControl: who is calling, which models they may see, and whether their rate limit admits a call.

Checked tokens and the model-visibility table are reused for ``auth_cache_s`` seconds, so the hot path
asks the database nothing; a change made through this gateway takes effect at once, one made elsewhere
(another gateway, the CLI) within that many seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hubserve.accounts.principal import Principal, Scope, anonymous
from hubserve.accounts.ratelimit import RateLimiter, Tier
from hubserve.accounts.store import AccountStore, now_utc
from hubserve.accounts.tokens import PREFIX
from hubserve.errors import BadRequest, Forbidden, ModelNotFound, RateLimited, TaskNotSupported, Unauthorized
from hubserve.gateway.hub_view import ModelCatalog
from hubserve.gateway.metering import Meter
from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId, Resolved

log = logging.getLogger(__name__)
_MAX_CACHED_TOKENS = 10_000
_TOUCH_EVERY_S = 30.0


class AmbiguousModelId(BadRequest):
    """A bare model name that several namespaces hold."""

    error_type = "ambiguous_model_id"


@dataclass(frozen=True)
class Admission:
    """An admitted call: the model that serves it, its manifest, and the name the client used."""

    model_id: ModelId
    manifest: Manifest
    name: str
    deployment: str | None = None  # the endpoint whose runners serve it; None: serverless

    def require(self, task: str, *, param: str | None = None) -> None:
        """A model that does not serve ``task`` is task_not_supported, naming what it does serve."""
        if task not in self.manifest.tasks:
            raise TaskNotSupported(
                f"Model {self.model_id} does not serve {task}; it serves: {', '.join(self.manifest.tasks)}",
                param=param,
            )


class AccessControl:
    """Authentication, visibility and admission for every route."""

    def __init__(
        self,
        accounts: AccountStore,
        store: ModelCatalog,
        limiter: RateLimiter,
        tiers: dict[str, Tier],
        *,
        allow_anonymous: bool,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = accounts
        self.store = store
        self.limiter = limiter
        self.tiers = tiers
        self.allow_anonymous = allow_anonymous
        self._cache_s = cache_s
        self._clock = clock
        self._principals: dict[str, tuple[float, Principal | str]] = {}
        self._checking: dict[str, asyncio.Future[Principal | str]] = {}
        self._generation = 0  # bumped when tokens are forgotten
        self._access: dict[str, tuple[str | None, bool]] = {}
        self._access_at = float("-inf")
        self._access_lock = asyncio.Lock()
        self._last_used: dict[int, datetime] = {}
        self._toucher: asyncio.Task[None] | None = None
        self._warned_tiers: set[str] = set()

    def start(self) -> None:
        """Begin writing tokens' last-use times in the background (inside the running loop)."""
        self._toucher = asyncio.create_task(self._touch_forever())

    async def close(self) -> None:
        """Stop the background writer, write what is pending, close the rate limiter."""
        if self._toucher is not None:
            self._toucher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._toucher
        await self._touch()
        await self.limiter.close()

    # ---- who is calling --------------------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, address: str) -> Principal:
        """The caller behind an Authorization header; Unauthorized when it names nobody valid."""
        token = _bearer(authorization)
        if token is None or (self.allow_anonymous and not token.startswith(PREFIX)):
            # With anonymous use on, a foreign token (an hf_ token, openai's placeholder) counts as none.
            if not self.allow_anonymous:
                raise Unauthorized(
                    "This server needs a token: send 'Authorization: Bearer hs_...' "
                    "(create one with `hubserve token create`)"
                )
            return anonymous(address)
        key = hashlib.sha256(token.encode()).hexdigest()  # the cache never holds a token itself
        cached = self._principals.get(key)
        if cached is None or self._clock() - cached[0] >= self._cache_s:
            result = await self._check(key, token)
        else:
            result = cached[1]
        if isinstance(result, str):
            raise Unauthorized(result)
        assert result.token_id is not None
        self._last_used[result.token_id] = now_utc()
        return result

    async def _check(self, key: str, token: str) -> Principal | str:
        """Ask the database about a token, once at a time: callers that come meanwhile share the answer.

        At a few hundred requests a second, each asking the database while the first answer was on its
        way made dozens of identical queries every time an entry expired.
        """
        running = self._checking.get(key)
        if running is None:
            running = self._checking[key] = asyncio.ensure_future(self._lookup(key, token))
            running.add_done_callback(lambda done: self._checked(key, done))
        return await asyncio.shield(running)  # a caller that gives up does not cancel the others' answer

    def _checked(self, key: str, done: asyncio.Future[Principal | str]) -> None:
        if self._checking.get(key) is done:
            del self._checking[key]
        if not done.cancelled():
            done.exception()  # each waiter gets it; retrieved here too, so one nobody awaits logs nothing

    async def _lookup(self, key: str, token: str) -> Principal | str:
        now, generation = self._clock(), self._generation
        try:
            result: Principal | str = await asyncio.to_thread(self.accounts.authenticate, token)
        except Unauthorized as exc:
            result = exc.message
        if generation != self._generation:  # tokens were revoked meanwhile: this answer may predate it
            return result
        if len(self._principals) >= _MAX_CACHED_TOKENS:
            self._principals.clear()
        self._principals[key] = (now, result)
        return result

    def forget_tokens(self) -> None:
        """Drop checked tokens (after a revoke through this gateway)."""
        self._principals.clear()
        self._checking.clear()
        self._generation += 1

    # ---- what they may see -----------------------------------------------------------------------------

    async def visible(self, principal: Principal, model: str) -> bool:
        """Whether ``model`` exists for this caller: public, or private and theirs (or their org's)."""
        if self._clock() - self._access_at >= self._cache_s:
            async with self._access_lock:  # one reload at a time; nobody checks against a stale table
                if self._clock() - self._access_at >= self._cache_s:
                    self._access = await asyncio.to_thread(self.accounts.model_access)
                    self._access_at = self._clock()
        entry = self._access.get(model)
        return entry is None or not entry[1] or principal.sees_private(entry[0])

    def access_of(self, model: str) -> tuple[str | None, bool]:
        """(owner, private) of a model, from the last visibility snapshot."""
        return self._access.get(model, (None, False))

    def forget_visibility(self) -> None:
        """Re-read visibility on the next request (after a change through this gateway)."""
        self._access_at = float("-inf")

    async def check_visible(self, principal: Principal, model_id: ModelId) -> None:
        """ModelNotFound, worded as for a missing model, when the caller may not see it."""
        if not await self.visible(principal, str(model_id)):
            raise ModelNotFound(f"Model {model_id} does not exist")

    async def find(self, principal: Principal, name: str) -> Resolved:
        """The model ``name`` (an id, an alias or a bare name) means for this caller, if they may see it.

        An alias has its target's visibility. A bare name that several visible namespaces hold is
        ambiguous; one held only where the caller cannot look is missing, as its model would be.
        """
        found = self.store.candidates(name)
        seen = [r for r in found if await self.visible(principal, str(r.model_id))]
        if not seen:
            raise ModelNotFound(f"Model {name} does not exist")
        if len(seen) > 1:
            raise AmbiguousModelId(
                f"Model {name} is ambiguous: name one of {', '.join(str(r.model_id) for r in seen)}"
            )
        return seen[0]

    # ---- may this call run -----------------------------------------------------------------------------

    async def admit(
        self, meter: Meter, principal: Principal, name: str, *, task: str | None, route: str
    ) -> Admission:
        """Find the model, then hit the caller's rate limit once; the meter records the call from here on.

        A call to an endpoint's URL serves the endpoint's model, whatever it names, and has no rate limit.
        """
        bound = meter.endpoint
        if bound is not None:
            manifest = self.store.get(bound.model_id)
            meter.model, meter.task, meter.route = str(bound.model_id), task or manifest.pipeline_tag, route
            return Admission(bound.model_id, manifest, str(bound.model_id), deployment=bound.name)
        resolved = await self.find(principal, name)
        manifest = self.store.get(resolved.model_id)
        model_id = resolved.model_id
        meter.model, meter.task, meter.route = str(model_id), task or manifest.pipeline_tag, route
        tier = self.tier(principal)
        decision = await self.limiter.hit(principal.client, tier)
        meter.decision = decision
        if not decision.allowed:
            who = f"token of {principal.name}" if principal.name else "anonymous caller"
            raise RateLimited(
                f"Rate limit reached for this {who} (tier '{tier.name}': {decision.limit} requests per "
                f"{decision.window_s}s); retry in {decision.reset_s}s",
                headers=decision.headers(),
            )
        return Admission(model_id, manifest, resolved.name)

    def tier(self, principal: Principal) -> Tier:
        """The caller's tier; an account naming a tier the server lacks falls back to 'free'."""
        tier = self.tiers.get(principal.tier)
        if tier is not None:
            return tier
        if principal.tier not in self._warned_tiers:
            self._warned_tiers.add(principal.tier)
            log.warning("tier %r is not in HUBSERVE_RATE_LIMIT_TIERS; using 'free'", principal.tier)
        return self.tiers.get("free") or Tier("free", ())

    @staticmethod
    def require(principal: Principal, scope: Scope) -> None:
        """Forbidden unless the caller's token grants ``scope``."""
        if not principal.can(scope):
            who = "Anonymous callers" if principal.anonymous else "This token"
            raise Forbidden(f"{who} may not do this: it needs the '{scope.value}' scope")

    # ---- last use of tokens ----------------------------------------------------------------------------

    async def _touch_forever(self) -> None:
        while True:
            await asyncio.sleep(_TOUCH_EVERY_S)
            await self._touch()

    async def _touch(self) -> None:
        pending, self._last_used = self._last_used, {}
        if pending:
            try:
                await asyncio.to_thread(self.accounts.touch_tokens, pending)
            except Exception:  # a busy database must not stop serving; the next round retries
                log.warning("could not record token last-use times; will retry", exc_info=True)
                for token_id, when in pending.items():
                    self._last_used.setdefault(token_id, when)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return value.strip()
