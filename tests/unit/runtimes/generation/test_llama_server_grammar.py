"""Constraints become LLGuidance grammars for llama.cpp's engine, checked first: a broken one is a 422."""

from __future__ import annotations

import json

import pytest

from hubserve.errors import ValidationFailed
from hubserve.runtimes.generation.llama_server import grammar
from hubserve.types.generation import Constraint


def schema_of(text: str) -> dict[str, object]:
    head, _, body = text.partition("start: %json ")
    assert head == "%llguidance {}\n"
    value: dict[str, object] = json.loads(body)
    return value


def test_a_regex_is_escaped_into_a_lark_rule() -> None:
    assert grammar(Constraint("regex", "a/b[0-9]+")) == "%llguidance {}\nstart: /a\\/b[0-9]+/"


def test_schemas_are_compact_and_closed_where_they_list_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}}},
    }
    out = schema_of(grammar(Constraint("json_schema", schema)))
    assert out["x-guidance"] == {"whitespace_flexible": False}
    assert out["additionalProperties"] is False
    assert out["properties"]["tags"]["items"]["additionalProperties"] is False  # type: ignore[index]
    kept = schema_of(grammar(Constraint("json_schema", {"properties": {}, "additionalProperties": True})))
    assert kept["additionalProperties"] is True
    assert schema_of(grammar(Constraint("json")))["type"] == "object"
    assert schema_of(grammar(Constraint("json_schema", json.dumps({"type": "integer"}))))["type"] == "integer"


@pytest.mark.parametrize(
    "constraint",
    [
        Constraint("regex", "(["),
        Constraint("json_schema", {"type": "wat"}),
        Constraint("json_schema", [1, 2]),
    ],
)
def test_a_broken_constraint_is_a_validation_error(constraint: Constraint) -> None:
    with pytest.raises(ValidationFailed) as caught:
        grammar(constraint)
    assert caught.value.param == "response_format"
