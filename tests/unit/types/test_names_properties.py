"""Property tests of model id and alias validation: valid ids round-trip, anything else is InvalidModelId."""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubserve.errors import InvalidModelId
from hubserve.hub.aliases import AliasTable
from hubserve.types.names import ModelId, check_reference

FIRST = string.ascii_letters + string.digits
REST = FIRST + "._-"
# The oracle, written apart from the code: 1 to 96 characters of [A-Za-z0-9._-], starting with a letter
# or a digit, and no "..".
ORACLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
derandomized = settings(derandomize=True, max_examples=400, database=None, deadline=None)

parts = st.builds(lambda a, b: a + b, st.sampled_from(FIRST), st.text(REST, max_size=95)).filter(
    lambda p: ".." not in p
)
odd = st.sampled_from(["/", "\\", " ", "\n", "\0", "%2F", ":", "é", "٣", "Ａ", "*", "?", "#", "~", "$", ".."])


def valid_part(part: str) -> bool:
    return bool(ORACLE.fullmatch(part)) and ".." not in part


@derandomized
@given(parts, parts)
def test_valid_ids_round_trip(namespace: str, name: str) -> None:
    text = f"{namespace}/{name}"
    parsed = ModelId.parse(text)
    assert (parsed.namespace, parsed.name, str(parsed)) == (namespace, name, text)
    assert ModelId.parse(str(parsed)) == parsed
    assert check_reference(text) == text and check_reference(name) == name


@derandomized
@given(st.one_of(st.text(), st.text(REST + "/", max_size=200), st.lists(parts, max_size=4).map("/".join)))
def test_any_text_is_a_valid_id_or_invalid_model_id(text: str) -> None:
    pieces = text.split("/")
    try:
        parsed = ModelId.parse(text)
    except InvalidModelId:
        assert not (len(pieces) == 2 and all(valid_part(p) for p in pieces)), text
    else:
        assert len(pieces) == 2 and all(valid_part(p) for p in pieces) and str(parsed) == text
    try:
        assert check_reference(text) == text
    except InvalidModelId:
        assert not (1 <= len(pieces) <= 2 and all(valid_part(p) for p in pieces)), text
    else:
        assert 1 <= len(pieces) <= 2 and all(valid_part(p) for p in pieces), text


@derandomized
@given(parts, parts, odd, st.integers(min_value=0, max_value=200))
def test_traversal_odd_characters_and_empty_parts_are_refused(
    namespace: str, name: str, bad: str, where: int
) -> None:
    spot = where % (len(name) + 1)
    spoiled = name[:spot] + bad + name[spot:]
    for text in (f"{namespace}/{spoiled}", f"{spoiled}/{name}", f"../{name}", f"{namespace}/..", f"/{name}"):
        if len(text.split("/")) == 2 and all(valid_part(p) for p in text.split("/")):
            continue  # the odd piece happened to leave a valid id (e.g. "~" is refused, "." is not)
        with pytest.raises(InvalidModelId):
            ModelId.parse(text)
    for text in (f"{namespace}/", f"/{name}", f"{namespace}//{name}", "", "/"):
        with pytest.raises(InvalidModelId):
            ModelId.parse(text)
        with pytest.raises(InvalidModelId):
            check_reference(text)


@derandomized
@given(st.builds(lambda a, b: a + b, st.sampled_from(FIRST), st.text(REST, min_size=96, max_size=300)))
def test_too_long_parts_are_refused(long: str) -> None:
    for text in (f"org/{long}", f"{long}/name", long):
        with pytest.raises(InvalidModelId):
            check_reference(text)


@pytest.mark.parametrize("value", [None, 3, b"org/name", ["org", "name"]])
def test_a_non_string_is_invalid_model_id(value: object) -> None:
    with pytest.raises(InvalidModelId):
        ModelId.parse(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidModelId):
        check_reference(value)  # type: ignore[arg-type]


@settings(derandomize=True, max_examples=150, database=None, deadline=None)
@given(st.one_of(parts, st.tuples(parts, parts).map("/".join)), st.text(max_size=40))
def test_aliases_take_valid_names_and_refuse_the_rest_untouched(name: str, junk: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "aliases.json"
        table = AliasTable(path)
        table.add(name, "org/model", is_model=lambda n: n == "org/model")
        assert table.follow(name) == "org/model" and table.all() == {name: "org/model"}
        before = path.read_bytes()
        for bad_name in (junk, f"{name}/{junk}", f"../{name}", f"{name}/..", f"{name} x"):
            if 1 <= len(bad_name.split("/")) <= 2 and all(valid_part(p) for p in bad_name.split("/")):
                continue
            with pytest.raises(InvalidModelId):
                table.add(bad_name, "org/model", is_model=lambda n: n == "org/model")
            with pytest.raises(InvalidModelId):
                table.add(name + "x", bad_name, is_model=lambda n: n == "org/model")
        assert path.read_bytes() == before
