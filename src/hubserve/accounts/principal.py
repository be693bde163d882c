"""Principal: who is calling (a token's owner, or anonymous) and what its scopes allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hubserve.errors import BadRequest


class Scope(StrEnum):
    """What a token may do; ``admin`` implies every other scope."""

    READ = "read"
    INFERENCE = "inference"
    WRITE = "write"
    ADMIN = "admin"


DEFAULT_SCOPES = (Scope.READ, Scope.INFERENCE)


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """Comma-separated scope names; an unknown name is a BadRequest naming the valid ones."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise BadRequest(f"A token needs at least one scope: {', '.join(s.value for s in Scope)}")
    valid = {s.value for s in Scope}
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise BadRequest(f"Unknown scope {unknown[0]!r}; valid scopes: {', '.join(sorted(valid))}")
    return tuple(Scope(n) for n in dict.fromkeys(names))


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    name: str | None  # account name; None for anonymous
    account_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[Scope] = frozenset()
    tier: str = "anonymous"
    is_admin: bool = False
    orgs: frozenset[str] = field(default_factory=frozenset)
    managed_orgs: frozenset[str] = field(default_factory=frozenset)  # orgs where the role is write or admin
    client: str = "anonymous"  # the rate-limit and usage key: "token:<id>" or "ip:<address>"

    @property
    def anonymous(self) -> bool:
        """True when no token was given."""
        return self.token_id is None

    def can(self, scope: Scope) -> bool:
        """Whether this caller's token grants ``scope``."""
        admin = Scope.ADMIN in self.scopes and self.is_admin  # a demoted admin's token keeps only the rest
        return admin or (scope is not Scope.ADMIN and scope in self.scopes)

    def manages(self, owner: str) -> bool:
        """Whether this caller may change models owned by ``owner``: it is theirs, or an org they write to."""
        return owner == self.name or owner in self.managed_orgs

    def sees_private(self, owner: str | None) -> bool:
        """Whether a private model owned by ``owner`` is visible to this caller."""
        if self.anonymous or not self.can(Scope.READ):
            return False
        if self.is_admin and Scope.ADMIN in self.scopes:
            return True
        return owner is not None and (owner == self.name or owner in self.orgs)


def anonymous(address: str) -> Principal:
    """The principal of a request with no token, keyed by the client's address."""
    return Principal(name=None, scopes=frozenset({Scope.READ, Scope.INFERENCE}), client=f"ip:{address}")
