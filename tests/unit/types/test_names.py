from __future__ import annotations

import pytest

from hubserve.errors import InvalidModelId
from hubserve.types.names import ModelId


@pytest.mark.parametrize("text", ["org/name", "sentence-transformers/all-MiniLM-L6-v2", "a/b.c_d-e", "0/1"])
def test_valid_ids(text: str) -> None:
    parsed = ModelId.parse(text)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "name",
        "a/b/c",
        "../etc",
        "a/..",
        "a/.",
        "/abs",
        "a/",
        "/a/b",
        "a/b c",
        "a/b;rm",
        "a/-b",
        "a/.hidden",
        "a/b\x00",
        "a/" + "x" * 97,
        "a/b..c",
        "ä/b",
        "a\\b",
    ],
)
def test_invalid_ids(text: str) -> None:
    with pytest.raises(InvalidModelId):
        ModelId.parse(text)


def test_trailing_newline_is_not_a_valid_part() -> None:
    with pytest.raises(InvalidModelId):
        ModelId.parse("acme\n/model")
