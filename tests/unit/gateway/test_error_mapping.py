from __future__ import annotations

import json

import pytest

from hubserve.errors import (
    Forbidden,
    GenerationFailed,
    HubserveError,
    InputTooLong,
    ModelLoading,
    ModelNotFound,
    NoCapacity,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from hubserve.gateway.errors import Dialect, error_response


def test_hf_dialect_names_the_type_in_a_header_and_the_hub_code_for_a_missing_model() -> None:
    r = error_response(ModelNotFound("Model a/b does not exist"), Dialect.HF)
    assert r.status_code == 404
    assert json.loads(r.body) == {"error": "Model a/b does not exist"}
    assert r.headers["x-error-type"] == "model_not_found"
    assert r.headers["x-error-code"] == "RepoNotFound"


@pytest.mark.parametrize(
    ("error", "in_body"),
    [
        (ValidationFailed("bad"), True),
        (Overloaded("busy"), True),
        (GenerationFailed("broke"), True),
        (RateLimited("slow down", headers={"Retry-After": "3"}), False),
        (ModelLoading("a/b", 4.2), False),
        (NoCapacity("full"), False),
        (Unauthorized("who"), False),
        (Forbidden("no"), False),
        (PayloadTooLarge("big"), False),
    ],
)
def test_hf_bodies_carry_error_type_only_for_tgis_four_types(error: HubserveError, in_body: bool) -> None:
    r = error_response(error, Dialect.HF)
    body = json.loads(r.body)
    assert ("error_type" in body) is in_body
    assert body.get("error_type", error.error_type) == r.headers["x-error-type"] == error.error_type


def test_model_loading_is_hfs_cold_start_body() -> None:
    r = error_response(ModelLoading("a/b", 4.2), Dialect.HF)
    assert json.loads(r.body) == {"error": "Model a/b is currently loading", "estimated_time": 4.2}
    assert (r.status_code, r.headers["retry-after"]) == (503, "5")


def test_openai_dialect_turns_validation_into_400() -> None:
    r = error_response(ValidationFailed("bad temperature", param="temperature"), Dialect.OPENAI)
    assert r.status_code == 400
    assert json.loads(r.body) == {
        "error": {
            "message": "bad temperature",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "validation",
        }
    }
    assert r.headers["x-error-type"] == "validation"


@pytest.mark.parametrize("dialect", list(Dialect))
def test_overloaded_is_429_with_retry_after(dialect: Dialect) -> None:
    r = error_response(Overloaded("busy", retry_after_s=2.4), dialect)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"


def test_input_too_long_keeps_its_status() -> None:
    assert error_response(InputTooLong("long"), Dialect.HF).status_code == 413
