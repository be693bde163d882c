from __future__ import annotations

import json

import pytest

from hubserve.errors import InputTooLong, ModelNotFound, Overloaded, ValidationFailed
from hubserve.gateway.errors import error_response


def test_hf_dialect() -> None:
    r = error_response(ModelNotFound("Model a/b does not exist"), "/models/a/b")
    assert r.status_code == 404
    assert json.loads(r.body) == {"error": "Model a/b does not exist", "error_type": "model_not_found"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/models/a/b/v1/chat/completions"])
def test_openai_dialect_turns_validation_into_400(path: str) -> None:
    r = error_response(ValidationFailed("bad temperature", param="temperature"), path)
    assert r.status_code == 400
    assert json.loads(r.body) == {
        "error": {
            "message": "bad temperature",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "validation",
        }
    }


@pytest.mark.parametrize("path", ["/models/a/b", "/v1/completions"])
def test_overloaded_is_429_with_retry_after(path: str) -> None:
    r = error_response(Overloaded("busy", retry_after_s=2.4), path)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"


def test_input_too_long_keeps_its_status() -> None:
    assert error_response(InputTooLong("long"), "/models/a/b").status_code == 413
