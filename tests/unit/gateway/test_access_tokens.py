"""AccessControl's token cache: one database check per token at a time, however many callers wait on it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from hubserve.accounts.principal import Principal, Scope
from hubserve.accounts.ratelimit import MemoryRateLimiter
from hubserve.errors import Unauthorized
from hubserve.gateway.access import AccessControl
from hubserve.hub.store import HubStore

pytestmark = pytest.mark.anyio

TOKEN = "hs_" + "a" * 44
HEADER = f"Bearer {TOKEN}"


class SlowAccounts:
    """Answers like AccountStore.authenticate, in its worker thread; a closed ``gate`` holds each answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.valid = True
        self.fail: Exception | None = None
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal:
        with self._lock:
            self.calls += 1
        valid, fail = self.valid, self.fail  # the database's state when the query ran
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        if fail is not None:
            raise fail
        if not valid:
            raise Unauthorized("Token hs_aaaa… has been revoked")
        return Principal(name="alice", account_id=1, token_id=7, scopes=frozenset({Scope.INFERENCE}))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def while_held(accounts: SlowAccounts, callers: list[asyncio.Future[Principal]]) -> None:
    """Return once a check has begun and every caller has reached it; the gate is still closed."""
    assert await anyio.to_thread.run_sync(accounts.entered.wait, 10)
    for _ in range(5):  # each caller runs to its first wait (no clock: a yield to the loop)
        await asyncio.sleep(0)
    assert not any(c.done() for c in callers)


async def all_at_once(access: AccessControl, accounts: SlowAccounts, n: int) -> list[Any]:
    """``n`` callers at once, the check held until all of them wait on it."""
    accounts.gate.clear()
    accounts.entered.clear()
    callers = [asyncio.ensure_future(access.authenticate(HEADER, "127.0.0.1")) for _ in range(n)]
    await while_held(accounts, callers)
    accounts.gate.set()
    return await asyncio.gather(*callers, return_exceptions=True)


def control(accounts: SlowAccounts, clock: Clock, tmp_path: Path) -> AccessControl:
    return AccessControl(
        accounts,  # type: ignore[arg-type]  # the one method AccessControl.authenticate uses
        HubStore(tmp_path / "hub"),
        MemoryRateLimiter(),
        {},
        allow_anonymous=False,
        cache_s=5.0,
        clock=clock,
    )


async def test_callers_that_come_while_a_token_is_checked_share_the_one_check(tmp_path: Path) -> None:
    accounts, clock = SlowAccounts(), Clock()
    access = control(accounts, clock, tmp_path)
    principals = await all_at_once(access, accounts, 20)
    assert accounts.calls == 1
    assert {p.name for p in principals} == {"alice"}

    await access.authenticate(HEADER, "127.0.0.1")  # cached
    assert accounts.calls == 1
    clock.now += 5.0  # expired: the next burst checks once more, once
    await all_at_once(access, accounts, 20)
    assert accounts.calls == 2


async def test_a_refused_token_is_refused_to_every_waiting_caller_with_the_reason(tmp_path: Path) -> None:
    accounts, clock = SlowAccounts(), Clock()
    accounts.valid = False
    access = control(accounts, clock, tmp_path)
    results = await all_at_once(access, accounts, 10)
    assert accounts.calls == 1
    assert all(isinstance(r, Unauthorized) and "revoked" in r.message for r in results)


async def test_a_failed_check_reaches_its_waiters_and_is_not_remembered(tmp_path: Path) -> None:
    accounts, clock = SlowAccounts(), Clock()
    accounts.fail = ConnectionError("database is down")
    access = control(accounts, clock, tmp_path)
    results = await all_at_once(access, accounts, 5)
    assert accounts.calls == 1 and all(isinstance(r, ConnectionError) for r in results)

    accounts.fail = None
    assert (await access.authenticate(HEADER, "127.0.0.1")).name == "alice"
    assert accounts.calls == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_check_for_the_others(tmp_path: Path) -> None:
    accounts, clock = SlowAccounts(), Clock()
    access = control(accounts, clock, tmp_path)
    accounts.gate.clear()
    impatient = asyncio.ensure_future(access.authenticate(HEADER, "127.0.0.1"))
    patient = asyncio.ensure_future(access.authenticate(HEADER, "127.0.0.1"))
    await while_held(accounts, [impatient, patient])
    impatient.cancel()
    await asyncio.sleep(0)
    accounts.gate.set()
    assert (await patient).name == "alice"
    assert accounts.calls == 1


async def test_tokens_forgotten_during_a_check_are_checked_again(tmp_path: Path) -> None:
    accounts, clock = SlowAccounts(), Clock()
    access = control(accounts, clock, tmp_path)
    accounts.gate.clear()
    before = asyncio.ensure_future(access.authenticate(HEADER, "127.0.0.1"))
    await while_held(accounts, [before])
    accounts.valid = False
    access.forget_tokens()  # a revoke through this gateway, while the old answer is on its way
    accounts.gate.set()
    assert (await before).name == "alice"
    with pytest.raises(Unauthorized):
        await access.authenticate(HEADER, "127.0.0.1")
    assert accounts.calls == 2
