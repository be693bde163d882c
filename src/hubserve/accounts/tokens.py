"""Token format: ``hs_`` + a public selector + a secret; only the secret's SHA-256 is ever stored.

The selector finds the row without touching the secret, and the secret's digest is then compared in
constant time, so neither the database index nor the comparison leaks how much of a guess was right.
A token carries 190 random bits, so a fast digest is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

PREFIX = "hs_"
SELECTOR_LEN = 12
SECRET_LEN = 32
_ALPHABET = string.ascii_letters + string.digits
_SHAPE = re.compile(rf"{PREFIX}[A-Za-z0-9]{{{SELECTOR_LEN + SECRET_LEN}}}")


@dataclass(frozen=True)
class TokenParts:
    """A token split into what is stored (selector, digest) and what is shown once (the whole token)."""

    selector: str
    secret_sha256: str
    token: str


def new_token() -> TokenParts:
    """A fresh random token."""
    selector = "".join(secrets.choice(_ALPHABET) for _ in range(SELECTOR_LEN))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LEN))
    return TokenParts(selector, digest(secret), f"{PREFIX}{selector}{secret}")


def digest(secret: str) -> str:
    """Hex SHA-256 of a token's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has the shape of a hubserve token (not whether it is valid)."""
    return bool(_SHAPE.fullmatch(text))


def split(token: str) -> tuple[str, str] | None:
    """(selector, secret) of a well-shaped token, else None."""
    if not looks_like_token(token):
        return None
    body = token[len(PREFIX) :]
    return body[:SELECTOR_LEN], body[SELECTOR_LEN:]


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time check of a secret against its stored digest."""
    return hmac.compare_digest(digest(secret).encode(), stored_sha256.encode())


def shown(selector: str) -> str:
    """How a token is named in listings and logs: its prefix and selector only."""
    return f"{PREFIX}{selector}…"
