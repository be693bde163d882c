from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, make_url, select, text, update
from sqlalchemy.orm import Session

from hubserve.accounts import store as store_module
from hubserve.accounts import tokens
from hubserve.accounts.database import make_engine, migrate
from hubserve.accounts.principal import DEFAULT_SCOPES, Principal, Scope, anonymous
from hubserve.accounts.schema import Account, Base, Membership, Token
from hubserve.accounts.store import AccountStore, CreatedToken
from hubserve.errors import AccountExists, AccountNotFound, BadRequest, Unauthorized

T = TypeVar("T")


# ---- fixtures: every database test runs on a SQLite file and on a fresh PostgreSQL schema ----------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> AccountStore:
    return AccountStore(engine)


@pytest.fixture
def people(store: AccountStore) -> AccountStore:
    """alice (user), bob (user), root (admin user), acme (org, alice writes, bob reads)."""
    store.create_account("alice", email="alice@example.com", fullname="Alice A.")
    store.create_account("bob", tier="pro")
    store.create_account("root", is_admin=True, tier="unlimited")
    store.create_account("acme", kind="org")
    store.add_member("acme", "alice", "write")
    store.add_member("acme", "bob")
    return store


def run_together(count: int, job: Callable[[int], T]) -> list[T]:
    """Run ``job(i)`` in ``count`` threads released at the same moment; re-raise what any raised."""
    barrier = threading.Barrier(count, timeout=20)

    def started(i: int) -> T:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(started, i) for i in range(count)]
        return [f.result(timeout=60) for f in futures]


def split(token: str) -> tuple[str, str]:
    parts = tokens.split(token)
    assert parts is not None
    return parts


# ---- accounts and organisations ---------------------------------------------------------------------


def test_create_user_and_org(store: AccountStore) -> None:
    assert not store.has_accounts()
    before = datetime.now(UTC)
    alice = store.create_account("alice")
    acme = store.create_account("acme", kind="org", tier="pro")
    assert store.has_accounts()
    assert (alice.name, alice.kind, alice.tier, alice.is_admin) == ("alice", "user", "free", False)
    assert (acme.name, acme.kind, acme.tier, acme.is_admin) == ("acme", "org", "pro", False)
    assert alice.id != acme.id
    assert alice.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= alice.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.get_account("alice") == alice
    assert store.get_account("acme") == acme
    assert [a.name for a in store.list_accounts()] == ["acme", "alice"]
    assert store.set_tier("alice", "pro").tier == "pro"
    assert store.get_account("alice").tier == "pro"


def test_an_org_is_never_an_admin(store: AccountStore) -> None:
    assert store.create_account("boss", is_admin=True).is_admin
    assert not store.create_account("club", kind="org", is_admin=True).is_admin


def test_duplicate_name_is_account_exists(store: AccountStore) -> None:
    store.create_account("alice")
    with pytest.raises(AccountExists) as caught:
        store.create_account("alice")
    assert caught.value.status_code == 409
    assert caught.value.error_type == "account_exists"
    assert "alice" in caught.value.message
    with pytest.raises(AccountExists):
        store.create_account("alice", kind="org")  # users and orgs share one namespace
    assert [a.name for a in store.list_accounts()] == ["alice"]
    store.create_account("alice2")  # the store still works after the failed insert


@pytest.mark.parametrize(
    "name",
    ["", "-alice", ".alice", "_alice", "al ice", "al/ice", "alice!", "ålice", "a" * 97, "al\nice"],
)
def test_bad_account_names(store: AccountStore, name: str) -> None:
    with pytest.raises(BadRequest) as caught:
        store.create_account(name)
    assert caught.value.status_code == 400
    assert not store.has_accounts()


def test_account_name_with_trailing_newline_is_refused(store: AccountStore) -> None:
    with pytest.raises(BadRequest):
        store.create_account("alice\n")


def test_good_account_names(store: AccountStore) -> None:
    for name in ("a", "A1", "0day", "al.ice_b-c", "x" * 96):
        assert store.create_account(name).name == name


def test_bad_kind(store: AccountStore) -> None:
    with pytest.raises(BadRequest):
        store.create_account("alice", kind="team")
    assert not store.has_accounts()


def test_unknown_account(store: AccountStore) -> None:
    store.create_account("acme", kind="org")
    with pytest.raises(AccountNotFound) as caught:
        store.get_account("nobody")
    assert caught.value.status_code == 404
    assert caught.value.error_type == "account_not_found"
    with pytest.raises(AccountNotFound):
        store.set_tier("nobody", "pro")
    with pytest.raises(AccountNotFound):
        store.add_member("acme", "nobody")
    with pytest.raises(AccountNotFound):
        store.add_member("nowhere", "acme")
    with pytest.raises(AccountNotFound):
        store.create_token("nobody", "t")
    with pytest.raises(AccountNotFound):
        store.list_tokens("nobody")
    with pytest.raises(AccountNotFound):
        store.set_model_access("acme/m", owner="nobody")
    assert store.model_access() == {}


def roles(engine: Engine) -> dict[tuple[str, str], str]:
    with Session(engine) as session:
        org, user = Account.__table__.alias("org"), Account.__table__.alias("usr")
        rows = session.execute(
            select(org.c.name, user.c.name, Membership.role)
            .join(org, org.c.id == Membership.org_id)
            .join(user, user.c.id == Membership.user_id)
        ).all()
    return {(o, u): r for o, u, r in rows}


def test_add_member_roles(people: AccountStore, engine: Engine) -> None:
    assert roles(engine) == {("acme", "alice"): "write", ("acme", "bob"): "read"}
    people.add_member("acme", "root", "admin")
    people.add_member("acme", "bob", "admin")  # a second call changes the role, no second row
    assert roles(engine) == {
        ("acme", "alice"): "write",
        ("acme", "bob"): "admin",
        ("acme", "root"): "admin",
    }
    with pytest.raises(BadRequest):
        people.add_member("acme", "alice", "owner")
    assert roles(engine)[("acme", "alice")] == "write"


def test_add_member_needs_an_org_and_a_user(people: AccountStore, engine: Engine) -> None:
    people.create_account("other", kind="org")
    with pytest.raises(BadRequest):
        people.add_member("alice", "bob")  # alice is not an org
    with pytest.raises(BadRequest):
        people.add_member("acme", "other")  # an org cannot be a member
    with pytest.raises(BadRequest):
        people.add_member("acme", "acme")
    assert len(roles(engine)) == 2


# ---- tokens ----------------------------------------------------------------------------------------------


def test_create_token_defaults(people: AccountStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = people.create_token("alice", "laptop")
    assert isinstance(created, CreatedToken)
    assert tokens.looks_like_token(created.token)
    selector, secret = split(created.token)
    info = created.info
    assert info.account == "alice"
    assert info.name == "laptop"
    assert info.scopes == tuple(s.value for s in DEFAULT_SCOPES) == ("read", "inference")
    assert info.shown == tokens.shown(selector)
    assert secret not in info.shown
    assert info.expires_at is None and info.last_used_at is None and not info.revoked
    assert before <= info.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    body = info.as_dict()
    assert body["token"] == info.shown and body["scopes"] == ["read", "inference"]
    assert body["expiresAt"] is None and body["revoked"] is False
    assert secret not in repr(body)
    assert people.list_tokens("alice") == [info]


def test_create_token_scopes_and_names(people: AccountStore) -> None:
    info = people.create_token("alice", "w", scopes=[Scope.WRITE, Scope.READ, Scope.WRITE]).info
    assert info.scopes == ("write", "read")  # order kept, duplicates dropped
    assert people.create_token("alice", "x" * 100).info.name == "x" * 100
    with pytest.raises(BadRequest):
        people.create_token("alice", "")
    with pytest.raises(BadRequest):
        people.create_token("alice", "x" * 101)
    assert len(people.list_tokens("alice")) == 2


def test_admin_scope_only_for_admins(people: AccountStore) -> None:
    with pytest.raises(BadRequest) as caught:
        people.create_token("alice", "sneaky", scopes=[Scope.READ, Scope.ADMIN])
    assert "admin" in caught.value.message
    assert people.list_tokens("alice") == []
    created = people.create_token("root", "ops", scopes=[Scope.ADMIN])
    assert created.info.scopes == ("admin",)


def test_tokens_for_an_org_are_refused(people: AccountStore) -> None:
    with pytest.raises(BadRequest):
        people.create_token("acme", "bot")
    assert people.list_tokens("acme") == []


def test_token_expiry_is_stored(people: AccountStore) -> None:
    created = people.create_token("alice", "short", expires_in=timedelta(hours=2))
    info = created.info
    assert info.expires_at is not None
    assert info.expires_at - info.created_at == timedelta(hours=2)
    listed = people.list_tokens("alice")[0]
    assert listed.expires_at == info.expires_at
    assert listed.expires_at is not None and listed.expires_at.tzinfo is not None
    assert info.as_dict()["expiresAt"].endswith("Z")


def test_list_tokens_newest_first_and_per_account(people: AccountStore) -> None:
    a1 = people.create_token("alice", "one").info
    b1 = people.create_token("bob", "bee").info
    a2 = people.create_token("alice", "two").info
    a3 = people.create_token("alice", "three").info
    assert [t.name for t in people.list_tokens("alice")] == ["three", "two", "one"]
    assert [t.id for t in people.list_tokens("alice")] == [a3.id, a2.id, a1.id]
    assert [t.name for t in people.list_tokens("bob")] == ["bee"]
    assert people.list_tokens("root") == []
    everyone = people.list_tokens()
    assert [t.id for t in everyone] == [a3.id, a2.id, b1.id, a1.id]
    assert [t.account for t in everyone] == ["alice", "alice", "bob", "alice"]


def test_revoke_token(people: AccountStore) -> None:
    keep = people.create_token("alice", "keep")
    gone = people.create_token("alice", "gone")
    revoked = people.revoke_token(gone.info.id)
    assert revoked.revoked and revoked.id == gone.info.id and revoked.account == "alice"
    again = people.revoke_token(gone.info.id, account="alice")  # a second revoke is harmless
    assert again.revoked
    listed = {t.name: t.revoked for t in people.list_tokens("alice")}
    assert listed == {"keep": False, "gone": True}  # revoked tokens stay listed
    people.authenticate(keep.token)
    with pytest.raises(AccountNotFound):
        people.revoke_token(987654)


def test_revoke_someone_elses_token(people: AccountStore) -> None:
    created = people.create_token("alice", "mine")
    with pytest.raises(AccountNotFound) as caught:
        people.revoke_token(created.info.id, account="bob")
    assert str(created.info.id) in caught.value.message
    assert not people.list_tokens("alice")[0].revoked
    assert people.authenticate(created.token).name == "alice"
    assert people.revoke_token(created.info.id, account="alice").revoked


# ---- authenticate ----------------------------------------------------------------------------------------


def test_authenticate_valid(people: AccountStore) -> None:
    created = people.create_token("alice", "laptop", scopes=[Scope.READ, Scope.WRITE])
    principal = people.authenticate(created.token)
    account = people.get_account("alice")
    assert principal == Principal(
        name="alice",
        account_id=account.id,
        token_id=created.info.id,
        scopes=frozenset({Scope.READ, Scope.WRITE}),
        tier="free",
        is_admin=False,
        orgs=frozenset({"acme"}),
        managed_orgs=frozenset({"acme"}),  # alice writes to acme
        client=f"token:{created.info.id}",
    )
    assert not principal.anonymous
    assert principal.can(Scope.READ) and principal.can(Scope.WRITE)
    assert not principal.can(Scope.INFERENCE) and not principal.can(Scope.ADMIN)
    assert people.authenticate(created.token, client="ip:10.0.0.1").client == "ip:10.0.0.1"

    bob = people.authenticate(people.create_token("bob", "b").token)
    assert (bob.name, bob.tier, bob.orgs) == ("bob", "pro", frozenset({"acme"}))
    root = people.authenticate(people.create_token("root", "r").token)
    assert (root.tier, root.is_admin, root.orgs) == ("unlimited", True, frozenset())


def test_authenticate_sees_new_memberships(people: AccountStore) -> None:
    created = people.create_token("root", "r")
    assert people.authenticate(created.token).orgs == frozenset()
    people.create_account("beta", kind="org")
    people.add_member("beta", "root")
    people.add_member("acme", "root")
    assert people.authenticate(created.token).orgs == frozenset({"acme", "beta"})


def test_authenticate_wrong_secret(people: AccountStore) -> None:
    created = people.create_token("alice", "laptop")
    selector, secret = split(created.token)
    other = tokens.new_token().token[15:]
    flipped = ("a" if secret[0] != "a" else "b") + secret[1:]
    for wrong in (other, flipped):
        with pytest.raises(Unauthorized) as caught:
            people.authenticate(f"hs_{selector}{wrong}")
        assert caught.value.status_code == 401
        assert caught.value.error_type == "unauthorized"
        assert secret not in caught.value.message
    with pytest.raises(Unauthorized):  # a well-shaped token with an unknown selector
        people.authenticate(tokens.new_token().token)


@pytest.mark.parametrize("bad", ["", "hs_", "hf_" + "a" * 44, "hs_" + "a" * 43, "hs_" + "a" * 43 + "-"])
def test_authenticate_malformed(people: AccountStore, bad: str) -> None:
    with pytest.raises(Unauthorized):
        people.authenticate(bad)


def test_authenticate_malformed_real_token(people: AccountStore) -> None:
    created = people.create_token("alice", "laptop")
    for bad in (created.token[:-1], created.token + "x", created.token.upper(), created.token[3:]):
        with pytest.raises(Unauthorized):
            people.authenticate(bad)


def test_authenticate_revoked(people: AccountStore) -> None:
    created = people.create_token("alice", "laptop")
    people.revoke_token(created.info.id)
    with pytest.raises(Unauthorized) as caught:
        people.authenticate(created.token)
    assert "revoked" in caught.value.message
    selector, _ = split(created.token)
    assert selector in caught.value.message
    # a wrong secret for a revoked token says nothing about it being revoked
    with pytest.raises(Unauthorized) as wrong:
        people.authenticate(f"hs_{selector}{tokens.new_token().token[15:]}")
    assert "revoked" not in wrong.value.message


def test_authenticate_expired(people: AccountStore) -> None:
    created = people.create_token("alice", "old", expires_in=timedelta(seconds=-1))
    with pytest.raises(Unauthorized) as caught:
        people.authenticate(created.token)
    assert "expired" in caught.value.message


def test_authenticate_expires_with_the_clock(people: AccountStore, monkeypatch: pytest.MonkeyPatch) -> None:
    created = people.create_token("alice", "hour", expires_in=timedelta(hours=1))
    assert people.authenticate(created.token).name == "alice"
    real_now = datetime.now(UTC)
    monkeypatch.setattr(store_module, "now_utc", lambda: real_now + timedelta(minutes=50))
    assert people.authenticate(created.token).name == "alice"
    monkeypatch.setattr(store_module, "now_utc", lambda: real_now + timedelta(hours=1, minutes=1))
    with pytest.raises(Unauthorized) as caught:
        people.authenticate(created.token)
    assert "expired" in caught.value.message


def test_demoted_admin_token_no_longer_grants_admin(people: AccountStore, engine: Engine) -> None:
    created = people.create_token("root", "ops", scopes=tuple(Scope))
    before = people.authenticate(created.token)
    assert before.is_admin and before.can(Scope.ADMIN) and before.can(Scope.WRITE)
    with Session(engine) as session:
        session.execute(update(Account).where(Account.name == "root").values(is_admin=False))
        session.commit()
    after = people.authenticate(created.token)
    assert not after.is_admin
    assert Scope.ADMIN in after.scopes  # the token row still says admin...
    assert not after.can(Scope.ADMIN)  # ...but it grants no admin any more
    assert not after.sees_private("alice")


# ---- whoami ----------------------------------------------------------------------------------------------


def test_whoami_shape(people: AccountStore) -> None:
    people.create_account("zeta", kind="org", tier="pro")
    people.add_member("zeta", "alice", "admin")
    created = people.create_token("alice", "laptop")
    body = people.whoami(people.authenticate(created.token))
    alice = people.get_account("alice")
    assert body["type"] == "user"
    assert body["id"] == str(alice.id)
    assert body["name"] == "alice"
    assert body["fullname"] == "Alice A."
    assert body["email"] == "alice@example.com"
    assert body["isPro"] is False and body["isAdmin"] is False and body["plan"] == "free"
    assert [(o["name"], o["roleInOrg"], o["type"]) for o in body["orgs"]] == [
        ("acme", "write", "org"),
        ("zeta", "admin", "org"),
    ]
    assert body["orgs"][1]["plan"] == "pro"
    assert body["orgs"][0]["id"] == str(people.get_account("acme").id)
    access = body["auth"]["accessToken"]
    assert body["auth"]["type"] == "access_token"
    assert access["displayName"] == "laptop"
    assert access["role"] == "read"
    assert access["scopes"] == ["read", "inference"]
    assert access["createdAt"].endswith("Z")
    assert created.token not in repr(body)
    assert split(created.token)[1] not in repr(body)


def test_whoami_role_and_defaults(people: AccountStore) -> None:
    writer = people.authenticate(people.create_token("alice", "w", scopes=[Scope.WRITE]).token)
    assert people.whoami(writer)["auth"]["accessToken"]["role"] == "write"
    reader = people.authenticate(people.create_token("alice", "r", scopes=[Scope.READ]).token)
    assert people.whoami(reader)["auth"]["accessToken"]["role"] == "read"
    admin = people.authenticate(people.create_token("root", "a", scopes=[Scope.ADMIN]).token)
    root = people.whoami(admin)
    assert root["auth"]["accessToken"]["role"] == "write"
    assert root["isAdmin"] is True and root["isPro"] is True and root["plan"] == "unlimited"
    assert root["orgs"] == []
    assert root["fullname"] == "root"  # the name stands in for a missing full name
    assert root["email"] is None


# ---- bootstrap_admin ---------------------------------------------------------------------------------


def test_bootstrap_admin(store: AccountStore) -> None:
    created = store.bootstrap_admin()
    assert created is not None
    assert created.info.account == "admin" and created.info.name == "bootstrap"
    assert set(created.info.scopes) == {s.value for s in Scope}
    account = store.get_account("admin")
    assert account.is_admin and account.kind == "user" and account.tier == "unlimited"
    principal = store.authenticate(created.token)
    assert principal.is_admin and all(principal.can(s) for s in Scope)
    assert store.bootstrap_admin() is None
    assert store.bootstrap_admin("other") is None
    assert [a.name for a in store.list_accounts()] == ["admin"]
    assert len(store.list_tokens()) == 1


def test_bootstrap_admin_not_on_a_used_database(store: AccountStore) -> None:
    store.create_account("alice")
    assert store.bootstrap_admin() is None
    assert [a.name for a in store.list_accounts()] == ["alice"]
    assert store.list_tokens() == []


def count_rows(engine: Engine, table: type[Base]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("forced", [False, True], ids=["natural", "forced-race"])
def test_bootstrap_admin_race(db_url: str, engine: Engine, forced: bool) -> None:
    """Two gateways starting on one empty database: one admin, one token, no exception escapes."""
    engines = [make_engine(db_url) for _ in range(2)]
    stores = [AccountStore(e) for e in engines]
    if forced:  # both see an empty database before either inserts
        barrier = threading.Barrier(2, timeout=20)
        for one in stores:
            checked = one.has_accounts

            def has_accounts(checked: Callable[[], bool] = checked) -> bool:
                answer = checked()
                barrier.wait()
                return answer

            one.has_accounts = has_accounts  # type: ignore[method-assign]
    try:
        results = run_together(2, lambda i: stores[i].bootstrap_admin())
    finally:
        for e in engines:
            e.dispose()
    made = [r for r in results if r is not None]
    assert len(made) == 1
    assert count_rows(engine, Account) == 1
    assert count_rows(engine, Token) == 1
    assert AccountStore(engine).authenticate(made[0].token).is_admin


# ---- model access ----------------------------------------------------------------------------------------


def test_model_access(people: AccountStore) -> None:
    assert people.model_access() == {}
    people.set_model_access("alice/one", owner="alice")
    assert people.model_access() == {"alice/one": ("alice", False)}
    people.set_model_access("alice/one", private=True)  # owner kept
    assert people.model_access()["alice/one"] == ("alice", True)
    people.set_model_access("alice/one", owner="acme")  # privacy kept
    assert people.model_access()["alice/one"] == ("acme", True)
    people.set_model_access("alice/one", private=False)
    assert people.model_access()["alice/one"] == ("acme", False)
    people.set_model_access("loose/model", private=True)
    assert people.model_access() == {"alice/one": ("acme", False), "loose/model": (None, True)}
    people.forget_model("alice/one")
    assert people.model_access() == {"loose/model": (None, True)}
    people.forget_model("alice/one")  # forgetting twice is harmless
    people.forget_model("never/seen")
    assert people.model_access() == {"loose/model": (None, True)}


def test_sees_private(people: AccountStore) -> None:
    people.set_model_access("alice/secret", owner="alice", private=True)
    people.set_model_access("acme/secret", owner="acme", private=True)
    people.set_model_access("orphan/secret", private=True)
    access = people.model_access()

    def who(account: str, scopes: tuple[Scope, ...] = DEFAULT_SCOPES) -> Principal:
        return people.authenticate(people.create_token(account, "t", scopes=scopes).token)

    def sees(principal: Principal) -> set[str]:
        return {model for model, (owner, _) in access.items() if principal.sees_private(owner)}

    people.create_account("carol")
    assert sees(who("alice")) == {"alice/secret", "acme/secret"}  # owner, and org member
    assert sees(who("bob")) == {"acme/secret"}  # org member only
    assert sees(who("carol")) == set()  # another user
    assert sees(who("root", (Scope.READ, Scope.ADMIN))) == set(access)  # admin with admin scope
    assert sees(who("root", (Scope.ADMIN,))) == set(access)  # admin implies read
    assert sees(who("root")) == set()  # an admin's plain token is an ordinary user's
    assert sees(who("alice", (Scope.INFERENCE,))) == set()  # no read scope
    assert sees(anonymous("127.0.0.1")) == set()
    assert not anonymous("127.0.0.1").sees_private(None)


# ---- last use --------------------------------------------------------------------------------------------


def test_touch_tokens(people: AccountStore) -> None:
    one = people.create_token("alice", "one").info
    two = people.create_token("alice", "two").info
    people.touch_tokens({})
    assert all(t.last_used_at is None for t in people.list_tokens())
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    people.touch_tokens({one.id: when})
    used = {t.id: t.last_used_at for t in people.list_tokens()}
    assert used == {one.id: when, two.id: None}
    later = when + timedelta(minutes=5)
    people.touch_tokens({one.id: later, two.id: when, 999999: when})  # an unknown id is ignored
    used = {t.id: t.last_used_at for t in people.list_tokens()}
    assert used == {one.id: later, two.id: when}
    assert people.list_tokens("alice")[1].as_dict()["lastUsedAt"] == "2030-01-02T03:09:05Z"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_touch_tokens_keeps_the_instant_of_a_non_utc_time(people: AccountStore) -> None:
    one = people.create_token("alice", "one").info
    when = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    people.touch_tokens({one.id: when})
    assert people.list_tokens("alice")[0].last_used_at == when  # the same instant (10:00 UTC)


# ---- tokens are never stored in clear --------------------------------------------------------------


def all_stored_text(backend: str, db_url: str, engine: Engine) -> str:
    """Everything the database holds, as text: the SQLite files' bytes, or every row of every table."""
    if backend == "sqlite":
        database = Path(make_url(db_url).database or "")
        files = sorted(database.parent.glob(f"{database.name}*"))
        assert database in files
        return b"".join(f.read_bytes() for f in files).decode("latin-1")
    chunks = []
    with engine.connect() as connection:
        tables = connection.scalars(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ).all()
        assert {"accounts", "tokens", "alembic_version"} <= set(tables)
        for table in tables:
            chunks.extend(connection.scalars(text(f'SELECT CAST(t AS TEXT) FROM "{table}" AS t')))
    return "\n".join(chunks)


def test_tokens_never_stored_in_clear(
    backend: str, db_url: str, engine: Engine, people: AccountStore
) -> None:
    made = [people.create_token("alice", f"t{i}") for i in range(5)]
    made.append(people.create_token("root", "ops", scopes=tuple(Scope)))
    people.touch_tokens({made[0].info.id: datetime.now(UTC)})
    people.revoke_token(made[1].info.id)
    for created in made[2:]:
        people.authenticate(created.token)

    def check(stored: str) -> None:
        for created in made:
            selector, secret = split(created.token)
            assert selector in stored  # the check can see what is stored...
            assert tokens.digest(secret) in stored
            assert created.token not in stored  # ...and the token and its secret are not there
            assert secret not in stored
            assert secret[:16] not in stored and secret[16:] not in stored

    check(all_stored_text(backend, db_url, engine))
    if backend == "sqlite":  # once more after the write-ahead log is checkpointed into the file
        engine.dispose()
        check(all_stored_text(backend, db_url, engine))


# ---- migrations ------------------------------------------------------------------------------------------


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_migrate_twice_is_a_no_op(fresh_url: str) -> None:
    engine = make_engine(fresh_url)
    try:
        migrate(engine)
        tables = table_names(engine)
        assert tables == {
            "alembic_version",
            "accounts",
            "memberships",
            "tokens",
            "model_access",
            "usage_records",
            "endpoints",
        }
        store = AccountStore(engine)
        created = store.create_token(store.create_account("alice").name, "t")
        migrate(engine)
        assert table_names(engine) == tables
        with engine.connect() as connection:
            assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == ["0002"]
        assert store.authenticate(created.token).name == "alice"
    finally:
        engine.dispose()


def test_concurrent_migrate_on_a_fresh_database(fresh_url: str) -> None:
    engines = [make_engine(fresh_url) for _ in range(2)]
    try:
        run_together(2, lambda i: migrate(engines[i]))
        with engines[0].connect() as connection:
            assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == ["0002"]
        store = AccountStore(engines[1])
        store.create_account("alice")
        assert [a.name for a in AccountStore(engines[0]).list_accounts()] == ["alice"]
    finally:
        for e in engines:
            e.dispose()


def test_migration_matches_the_orm(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        diff: list[Any] = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migration_matches_the_orm_detects_drift(engine: Engine) -> None:
    """The comparison above can fail: a column the migration lacks shows up as a difference."""
    from sqlalchemy import Column, MetaData, String, Table

    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("tokens", drifted, Column("note", String(10)), extend_existing=True)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), drifted)
    assert [d[0] for d in diff] == ["add_column"]
    assert diff[0][3].name == "note"


def test_only_write_and_admin_members_manage_an_orgs_models(people: AccountStore) -> None:
    alice = people.authenticate(people.create_token("alice", "t").token)
    bob = people.authenticate(people.create_token("bob", "t").token)
    assert alice.orgs == bob.orgs == frozenset({"acme"})
    assert alice.manages("acme") and alice.manages("alice")
    assert not bob.manages("acme") and bob.manages("bob") and not bob.manages("alice")
    people.add_member("acme", "bob", "admin")
    assert people.authenticate(people.create_token("bob", "t2").token).manages("acme")
