"""Every InferenceClient task method raises HfHubHTTPError, with the right status, for each HTTP error.

huggingface_hub turns a body's ``error_type`` into its TGI classes for ``text_generation``; any type but
TGI's four would make an ``UnknownError`` that is no ``HfHubHTTPError``, which the tutorial's
``except HfHubHTTPError`` would miss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, TextGenerationError, ValidationError

from hubserve.accounts.database import default_url, make_engine
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from tests.conftest import MINILM, RAMPART, running_server

Call = Callable[[InferenceClient], Any]
LONG = "pizza " * 50_000  # over the servers' 256 KiB body limit
# Each method on its own model, so one cold start does not warm the next method's model.
METHODS: dict[str, tuple[str, Call, Call]] = {
    "text_generation": (
        "test/tiny-llama",
        lambda c: c.text_generation("hello", max_new_tokens=2),
        lambda c: c.text_generation(LONG, max_new_tokens=2),
    ),
    "chat_completion": (
        "test/tiny-gpt2",
        lambda c: c.chat_completion([{"role": "user", "content": "hi"}], max_tokens=2),
        lambda c: c.chat_completion([{"role": "user", "content": LONG}], max_tokens=2),
    ),
    "feature_extraction": (
        "test/tiny-embed",
        lambda c: c.feature_extraction("hi"),
        lambda c: c.feature_extraction(LONG),
    ),
    "sentence_similarity": (
        MINILM,
        lambda c: c.sentence_similarity("a cat", ["a kitten"]),
        lambda c: c.sentence_similarity(LONG, ["a kitten"]),
    ),
    "text_classification": (
        "test/tiny-cls",
        lambda c: c.text_classification("i love pizza"),
        lambda c: c.text_classification(LONG),
    ),
    "token_classification": (
        "test/tiny-ner",
        lambda c: c.token_classification("my name is john"),
        lambda c: c.token_classification(LONG),
    ),
    "zero_shot_classification": (
        "test/tiny-nli",
        lambda c: c.zero_shot_classification("i love pizza", ["food", "sports"]),
        lambda c: c.zero_shot_classification(LONG, ["food", "sports"]),
    ),
    "fill_mask": (
        "test/tiny-mlm",
        lambda c: c.fill_mask("i love [MASK]."),
        lambda c: c.fill_mask(LONG + "[MASK]"),
    ),
    "question_answering": (
        "test/tiny-qa",
        lambda c: c.question_answering(question="where?", context="i live in paris"),
        lambda c: c.question_answering(question="where?", context=LONG),
    ),
}


def _raises(status: int, error_type: str, call: Callable[[], Any]) -> HfHubHTTPError:
    with pytest.raises(HfHubHTTPError) as caught:
        call()
    response = caught.value.response
    assert (response.status_code, response.headers["x-error-type"]) == (status, error_type), response.text
    return caught.value


def _client(url: str, model: str, token: str | None = None) -> InferenceClient:
    return InferenceClient(model=f"{url}/models/{model}", token=token)


@pytest.fixture(scope="module")
def tokens(hub_home: Path) -> dict[str, str]:
    """A token that may only read, and one of a tier whose single call an hour is spent at once."""
    accounts = AccountStore(make_engine(default_url(hub_home)))
    names = {a.name for a in accounts.list_accounts()}
    for name, tier in (("errors-reader", "free"), ("errors-spent", "once")):
        if name not in names:
            accounts.create_account(name, tier=tier)
    out = {
        "read_only": accounts.create_token("errors-reader", "read", scopes=(Scope.READ,)).token,
        "spent": accounts.create_token("errors-spent", "spent").token,
    }
    accounts.engine.dispose()
    return out


@pytest.fixture(scope="module")
def cold(hub_home: Path) -> Iterator[str]:
    """A fresh server with nothing loaded that answers 503 while a model loads."""
    tiers = "anonymous=none;free=1000/1h;once=1/1h;unlimited=none"
    with running_server(hub_home, HUBSERVE_RATE_LIMIT_TIERS=tiers) as (url, _):
        yield url


@pytest.fixture(scope="module")
def full(hub_home: Path, admin_headers: dict[str, str]) -> Iterator[str]:
    """A server whose memory budget one pinned model fills: every other model is ``no_capacity``.

    480 MiB is more than any one model's first estimate (its weights x 1.3 and a runner's 350 MiB: MiniLM's
    is 463), so none is too large; once the PII model holds its measured ~155 MiB, what is left is less
    than the smallest estimate (351 MiB).
    """
    env = {"HUBSERVE_MEMORY_BUDGET_BYTES": str(480 << 20), "HUBSERVE_PINNED_MODELS": RAMPART}
    with running_server(hub_home, **env) as (url, _):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            models = httpx.get(f"{url}/api/ps", headers=admin_headers).json()["models"]
            if any(m["model"] == RAMPART and m["state"] == "ready" for m in models):
                break
            time.sleep(0.2)
        yield url


@pytest.mark.parametrize("method", list(METHODS))
def test_client_errors(server: str, tokens: dict[str, str], method: str) -> None:
    model, call, too_big = METHODS[method]
    _raises(401, "unauthorized", lambda: call(_client(server, model, "hs_" + "x" * 44)))
    _raises(403, "forbidden", lambda: call(_client(server, model, tokens["read_only"])))
    missing = _raises(404, "model_not_found", lambda: call(_client(server, "test/no-such-model")))
    assert "does not exist" in str(missing)
    _raises(413, "payload_too_large", lambda: too_big(_client(server, model)))


def test_rate_limited_and_cold_models(cold: str, tokens: dict[str, str]) -> None:
    spend = _client(cold, "test/tiny-cls", tokens["spent"])
    _raises(503, "model_loading", lambda: spend.text_classification("x"))  # that was the hour's one call
    for method, (model, call, _) in METHODS.items():
        limited = _raises(429, "rate_limited", lambda: call(_client(cold, model, tokens["spent"])))  # noqa: B023
        assert "429" in str(limited) and "rate limit" in str(limited), method
    for method, (model, call, _) in METHODS.items():
        loading = _raises(503, "model_loading", lambda: call(_client(cold, model)))  # noqa: B023
        assert "loading" in str(loading), method
        assert loading.response.json()["estimated_time"] > 0, method


def test_no_capacity(full: str) -> None:
    for model, call, _ in METHODS.values():
        _raises(503, "no_capacity", lambda: call(_client(full, model)))  # noqa: B023


def test_tgis_own_types_still_raise_their_classes(server: str) -> None:
    client = _client(server, "test/tiny-llama")
    with pytest.raises(ValidationError) as caught:
        client.text_generation("hello", top_p=1.5)
    assert isinstance(caught.value, TextGenerationError) and not isinstance(caught.value, HfHubHTTPError)
