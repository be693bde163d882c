"""AccountStore: users, organisations, memberships, tokens and model access, over one SQLAlchemy engine."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from hubserve.accounts import tokens
from hubserve.accounts.database import session_factory
from hubserve.accounts.principal import DEFAULT_SCOPES, Principal, Scope
from hubserve.accounts.schema import Account, Membership, ModelAccess, Token
from hubserve.errors import AccountExists, AccountNotFound, BadRequest, Unauthorized

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # same alphabet as a model namespace
ROLES = ("read", "write", "admin")


@dataclass(frozen=True)
class AccountInfo:
    """A user or organisation as the CLI and the admin API show it."""

    id: int
    name: str
    kind: str
    tier: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """A token's public facts; the token itself is only ever in ``CreatedToken``."""

    id: int
    account: str
    name: str
    shown: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool

    def state(self, now: datetime | None = None) -> str:
        """``revoked``, ``expired`` (its expiry passed, as authentication judges it) or ``active``."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or now_utc()):
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "account": self.account,
            "name": self.name,
            "token": self.shown,
            "scopes": list(self.scopes),
            "createdAt": _iso(self.created_at),
            "lastUsedAt": _iso(self.last_used_at),
            "expiresAt": _iso(self.expires_at),
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class CreatedToken:
    """A new token: shown to its owner once, never stored."""

    info: TokenInfo
    token: str


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class AccountStore:
    """Every accounts read and write; synchronous (the gateway calls it from worker threads)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    # ---- accounts --------------------------------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        kind: str = "user",
        tier: str = "free",
        is_admin: bool = False,
        email: str | None = None,
        fullname: str = "",
    ) -> AccountInfo:
        """A new user or organisation; AccountExists if the name is taken."""
        if not _NAME.fullmatch(name):
            raise BadRequest(
                f"Account name {name!r} must start with a letter or digit and use only letters, digits, "
                "'-', '_' and '.' (at most 96 characters)"
            )
        if kind not in ("user", "org"):
            raise BadRequest(f"Account kind must be 'user' or 'org', not {kind!r}")
        row = Account(
            name=name,
            kind=kind,
            tier=tier,
            is_admin=is_admin and kind == "user",
            email=email,
            fullname=fullname or name,
            created_at=now_utc(),
        )
        with self._sessions() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                raise AccountExists(f"An account named {name!r} already exists") from None
            return _account_info(row)

    def get_account(self, name: str) -> AccountInfo:
        """One account by name; AccountNotFound if there is none."""
        with self._sessions() as session:
            return _account_info(self._account(session, name))

    def list_accounts(self) -> list[AccountInfo]:
        """Every account, by name."""
        with self._sessions() as session:
            return [_account_info(a) for a in session.scalars(select(Account).order_by(Account.name))]

    def set_tier(self, name: str, tier: str) -> AccountInfo:
        """Move an account to another rate-limit tier."""
        with self._sessions() as session:
            row = self._account(session, name)
            row.tier = tier
            session.commit()
            return _account_info(row)

    def add_member(self, org: str, user: str, role: str = "read") -> None:
        """Put ``user`` in ``org`` with ``role`` (read, write or admin); a second call changes the role."""
        if role not in ROLES:
            raise BadRequest(f"Unknown role {role!r}; valid roles: {', '.join(ROLES)}")
        with self._sessions() as session:
            org_row, user_row = self._account(session, org), self._account(session, user)
            if org_row.kind != "org" or user_row.kind != "user":
                raise BadRequest(f"{org!r} must be an organisation and {user!r} a user")
            membership = session.get(Membership, (org_row.id, user_row.id))
            if membership is None:
                session.add(Membership(org_id=org_row.id, user_id=user_row.id, role=role))
            else:
                membership.role = role
            session.commit()

    def has_accounts(self) -> bool:
        """Whether any account exists yet (first start creates the admin)."""
        with self._sessions() as session:
            return bool(session.scalar(select(func.count()).select_from(Account)))

    # ---- tokens ----------------------------------------------------------------------------------------

    def create_token(
        self,
        account: str,
        name: str,
        *,
        scopes: Iterable[Scope] = DEFAULT_SCOPES,
        expires_in: timedelta | None = None,
    ) -> CreatedToken:
        """A new token for a user; shown once in the result, stored only as a digest."""
        try:
            wanted = tuple(dict.fromkeys(Scope(s) for s in scopes))
        except ValueError as exc:
            raise BadRequest(f"{exc}; valid scopes: {', '.join(s.value for s in Scope)}") from None
        if not wanted:
            raise BadRequest(f"A token needs at least one scope: {', '.join(s.value for s in Scope)}")
        if not name or len(name) > 100:
            raise BadRequest("A token name must be 1 to 100 characters")
        with self._sessions() as session:
            owner = self._account(session, account)
            if owner.kind != "user":
                raise BadRequest(f"Tokens belong to users; {account!r} is an organisation")
            if Scope.ADMIN in wanted and not owner.is_admin:
                raise BadRequest(f"Only administrators can hold an 'admin' token; {account!r} is not one")
            parts = tokens.new_token()
            created = now_utc()
            row = Token(
                selector=parts.selector,
                secret_sha256=parts.secret_sha256,
                account_id=owner.id,
                name=name,
                scopes=",".join(s.value for s in wanted),
                created_at=created,
                expires_at=created + expires_in if expires_in is not None else None,
            )
            session.add(row)
            session.commit()
            return CreatedToken(_token_info(row, owner.name), parts.token)

    def list_tokens(self, account: str | None = None) -> list[TokenInfo]:
        """Tokens of one account (or all), newest first; never the secrets."""
        with self._sessions() as session:
            query = select(Token, Account.name).join(Account, Token.account_id == Account.id)
            if account is not None:
                query = query.where(Token.account_id == self._account(session, account).id)
            rows = session.execute(query.order_by(Token.id.desc())).all()
            return [_token_info(token, owner) for token, owner in rows]

    def revoke_token(self, token_id: int, *, account: str | None = None) -> TokenInfo:
        """Revoke a token (only the owner's, when ``account`` is given); revoked tokens stay listed."""
        with self._sessions() as session:
            row = session.get(Token, token_id)
            owner = session.get(Account, row.account_id) if row is not None else None
            if row is None or owner is None or (account is not None and owner.name != account):
                raise AccountNotFound(f"No token with id {token_id}")
            if row.revoked_at is None:
                row.revoked_at = now_utc()
                session.commit()
            return _token_info(row, owner.name)

    def authenticate(self, token: str, *, client: str | None = None) -> Principal:
        """The principal a token stands for; Unauthorized with the reason when it stands for none."""
        parts = tokens.split(token)
        if parts is None:
            raise Unauthorized("Invalid token: hubserve tokens look like 'hs_' followed by 44 letters/digits")
        selector, secret = parts
        with self._sessions() as session:
            row = session.scalar(select(Token).where(Token.selector == selector))
            if row is None or not tokens.secret_matches(secret, row.secret_sha256):
                raise Unauthorized("Invalid token: it does not match any token of this server")
            if row.revoked_at is not None:
                raise Unauthorized(f"Token {tokens.shown(selector)} has been revoked")
            if row.expires_at is not None and as_utc(row.expires_at) <= now_utc():
                raise Unauthorized(f"Token {tokens.shown(selector)} expired at {_iso(row.expires_at)}")
            owner = session.get(Account, row.account_id)
            assert owner is not None
            orgs = session.execute(
                select(Account.name, Membership.role)
                .join(Membership, Membership.org_id == Account.id)
                .where(Membership.user_id == owner.id)
            ).all()
            return Principal(
                name=owner.name,
                account_id=owner.id,
                token_id=row.id,
                scopes=frozenset(Scope(s) for s in row.scopes.split(",") if s),
                tier=owner.tier,
                is_admin=owner.is_admin,
                orgs=frozenset(org for org, _ in orgs),
                managed_orgs=frozenset(org for org, role in orgs if role in ("write", "admin")),
                client=client or f"token:{row.id}",
            )

    def touch_tokens(self, last_used: Mapping[int, datetime]) -> None:
        """Record when tokens were last used (the gateway batches these)."""
        if not last_used:
            return
        with self._sessions() as session:
            for token_id, when in last_used.items():
                stamp = when.astimezone(UTC)  # SQLite keeps the wall time and drops the offset
                session.execute(update(Token).where(Token.id == token_id).values(last_used_at=stamp))
            session.commit()

    def whoami(self, principal: Principal) -> dict[str, Any]:
        """The Hub's ``/api/whoami-v2`` body for a token's owner."""
        assert principal.name is not None and principal.token_id is not None
        with self._sessions() as session:
            owner = self._account(session, principal.name)
            token = session.get(Token, principal.token_id)
            assert token is not None
            orgs = session.execute(
                select(Account, Membership.role)
                .join(Membership, Membership.org_id == Account.id)
                .where(Membership.user_id == owner.id)
                .order_by(Account.name)
            ).all()
            scopes = token.scopes.split(",")
            role = "write" if {"write", "admin"} & set(scopes) else "read"
            return {
                "type": "user",
                "id": str(owner.id),
                "name": owner.name,
                "fullname": owner.fullname,
                "email": owner.email,
                "emailVerified": False,
                "isPro": owner.tier not in ("free", "anonymous"),
                "canPay": False,
                "periodEnd": None,
                "avatarUrl": "",
                "plan": owner.tier,
                "isAdmin": owner.is_admin,
                "orgs": [
                    {
                        "type": "org",
                        "id": str(org.id),
                        "name": org.name,
                        "fullname": org.fullname,
                        "roleInOrg": member_role,
                        "isEnterprise": False,
                        "plan": org.tier,
                    }
                    for org, member_role in orgs
                ],
                "auth": {
                    "type": "access_token",
                    "accessToken": {
                        "displayName": token.name,
                        "role": role,
                        "scopes": scopes,
                        "createdAt": _iso(token.created_at),
                    },
                },
            }

    def bootstrap_admin(self, name: str = "admin") -> CreatedToken | None:
        """On an empty database, an administrator and an admin token; None when accounts exist already."""
        if self.has_accounts():
            return None
        try:
            self.create_account(name, is_admin=True, tier="unlimited")
        except AccountExists:
            return None  # another process won the race
        return self.create_token(name, "bootstrap", scopes=tuple(Scope))

    # ---- model access ----------------------------------------------------------------------------------

    def set_model_access(
        self, model_id: str, *, owner: str | None = None, private: bool | None = None
    ) -> None:
        """Set a model's owner and/or privacy; unspecified fields keep their value."""
        with self._sessions() as session:
            row = session.get(ModelAccess, model_id)
            if row is None:
                row = ModelAccess(model_id=model_id, owner_id=None, private=False)
                session.add(row)
            if owner is not None:
                row.owner_id = self._account(session, owner).id
            if private is not None:
                row.private = private
            session.commit()

    def forget_model(self, model_id: str) -> None:
        """Drop a removed model's access row."""
        with self._sessions() as session:
            row = session.get(ModelAccess, model_id)
            if row is not None:
                session.delete(row)
                session.commit()

    def model_access(self) -> dict[str, tuple[str | None, bool]]:
        """model id -> (owner name, private) for every model with an access row."""
        with self._sessions() as session:
            rows = session.execute(
                select(ModelAccess.model_id, Account.name, ModelAccess.private).join(
                    Account, ModelAccess.owner_id == Account.id, isouter=True
                )
            ).all()
            return {model: (owner, bool(private)) for model, owner, private in rows}

    # ---- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _account(session: Any, name: str) -> Account:
        row = session.scalar(select(Account).where(Account.name == name))
        if row is None:
            raise AccountNotFound(f"No user or organisation named {name!r}")
        assert isinstance(row, Account)
        return row


def _account_info(row: Account) -> AccountInfo:
    return AccountInfo(row.id, row.name, row.kind, row.tier, row.is_admin, as_utc(row.created_at))


def _token_info(row: Token, owner: str) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        account=owner,
        name=row.name,
        shown=tokens.shown(row.selector),
        scopes=tuple(s for s in row.scopes.split(",") if s),
        created_at=as_utc(row.created_at),
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        revoked=row.revoked_at is not None,
    )


def as_utc(when: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iso(when: datetime | None) -> str | None:
    return as_utc(when).isoformat().replace("+00:00", "Z") if when is not None else None
