from __future__ import annotations

import hashlib
import re
import string

import pytest

from hubserve.accounts import tokens

ALNUM = set(string.ascii_letters + string.digits)
GOOD_BODY = "A" * tokens.SELECTOR_LEN + "b" * tokens.SECRET_LEN
GOOD = f"hs_{GOOD_BODY}"


def test_new_token_shape() -> None:
    parts = tokens.new_token()
    assert tokens.PREFIX == "hs_"
    assert len(parts.token) == 3 + 12 + 32
    assert parts.token.startswith("hs_")
    assert set(parts.token[3:]) <= ALNUM
    assert len(parts.selector) == 12
    assert parts.token[3:15] == parts.selector
    secret = parts.token[15:]
    assert len(secret) == 32
    assert parts.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert tokens.looks_like_token(parts.token)
    assert tokens.split(parts.token) == (parts.selector, secret)


def test_new_tokens_are_unique() -> None:
    made = [tokens.new_token() for _ in range(2000)]
    assert len({p.token for p in made}) == 2000
    assert len({p.selector for p in made}) == 2000
    assert len({p.secret_sha256 for p in made}) == 2000
    secrets_ = {p.token[15:] for p in made}
    assert len(secrets_) == 2000
    # every character of the alphabet turns up somewhere: the tokens are not drawn from a narrow set
    assert set("".join(p.token[3:] for p in made)) == ALNUM


def test_split_good_token() -> None:
    assert tokens.looks_like_token(GOOD)
    assert tokens.split(GOOD) == ("A" * 12, "b" * 32)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hs_",
        "hs",
        GOOD_BODY,  # no prefix
        f"hf_{GOOD_BODY}",  # a Hugging Face token prefix
        f"HS_{GOOD_BODY}",  # prefix is case-sensitive
        f"hs-{GOOD_BODY}",
        f"hs_{GOOD_BODY[:-1]}",  # one character short
        f"hs_{GOOD_BODY}c",  # one character long
        f"hs_{GOOD_BODY[:-1]}-",
        f"hs_{GOOD_BODY[:-1]}_",
        f"hs_{GOOD_BODY[:-1]}é",  # a non-ASCII letter
        f"hs_{GOOD_BODY[:-1]} ",
        f" {GOOD}",
        f"{GOOD} ",
        f"Bearer {GOOD}",
        f"hs_{'٣' * 44}",  # non-ASCII digits
        "sk-placeholder",
    ],
)
def test_bad_strings_are_not_tokens(text: str) -> None:
    assert not tokens.looks_like_token(text)
    assert tokens.split(text) is None


def test_trailing_newline_is_not_a_token() -> None:
    assert not tokens.looks_like_token(f"{GOOD}\n")
    assert tokens.split(f"{GOOD}\n") is None


def test_secret_matches() -> None:
    parts = tokens.new_token()
    _selector, secret = tokens.split(parts.token) or ("", "")
    assert tokens.secret_matches(secret, parts.secret_sha256)
    other = tokens.new_token()
    _, other_secret = tokens.split(other.token) or ("", "")
    assert not tokens.secret_matches(other_secret, parts.secret_sha256)
    assert not tokens.secret_matches(secret, other.secret_sha256)
    flipped = ("a" if secret[0] != "a" else "b") + secret[1:]  # one character changed, always
    assert not tokens.secret_matches(flipped, parts.secret_sha256)
    assert not tokens.secret_matches(secret[:-1], parts.secret_sha256)
    assert not tokens.secret_matches("", parts.secret_sha256)
    # the stored value is the digest, not the secret: the secret itself never matches as "stored"
    assert not tokens.secret_matches(secret, secret)
    assert not tokens.secret_matches(secret, "")


def test_shown_never_contains_the_secret() -> None:
    for _ in range(50):
        parts = tokens.new_token()
        secret = parts.token[15:]
        text = tokens.shown(parts.selector)
        assert text.startswith(f"hs_{parts.selector}")
        assert secret not in text
        assert secret[:8] not in text
        assert parts.token not in text
        assert parts.secret_sha256 not in text
        assert not tokens.looks_like_token(text)
        assert tokens.split(text) is None


def test_digest_is_sha256_hex() -> None:
    assert tokens.digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tokens.digest("abc") == hashlib.sha256(b"abc").hexdigest()
    for _ in range(20):
        value = tokens.new_token().token[15:]
        d = tokens.digest(value)
        assert re.fullmatch(r"[0-9a-f]{64}", d)
        assert d == hashlib.sha256(value.encode()).hexdigest()
    assert tokens.digest("abc") != tokens.digest("abd")
