"""schemathesis over the live server's own OpenAPI schema: every operation, anonymous and as an administrator.

The fuzzed server has its own home (a tiny classifier and a tiny causal LM, its default model), so the
routes that change state (model settings, load, unload) touch nothing another test uses. Each operation
gets a fixed-seed, bounded run of valid and of invalid requests; every answer must be documented (status,
content type, body schema), and none may be a crash (a 5xx that is not one of hubserve's designed ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.hub.store import HubStore
from tests.conftest import import_tiny, running_server

SEED = 20_17
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}  # per operation, per caller
PINNED_EXAMPLES = 6  # per operation with a model in its path, per real model, per caller
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
LM, CLS = "test/tiny-llama", "test/tiny-cls"


@dataclass
class Tally:
    """What one fuzzing run sent and found."""

    operations: int = 0
    examples: int = 0
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # "status error_type": count
    no_invalid_inputs: list[str] = field(default_factory=list)

    def report(self) -> str:
        found = [*self.server_errors, *self.violations]
        head = (
            f"{self.operations} operations, {self.examples} examples, {len(self.server_errors)} server "
            f"errors, {len(self.violations)} schema violations; "
            f"answers {dict(sorted(self.answers.items()))}; "
            f"no invalid input to make for {self.no_invalid_inputs}"
        )
        return "\n\n".join([head, *found[:40]])


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a server over its own throwaway home."""
    home = tmp_path_factory.mktemp("fuzz-home")
    store = HubStore(home / "hub")
    import_tiny(store, tiny_dirs["cls"], CLS)
    import_tiny(store, tiny_dirs["llama"], LM)
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("fuzzer", is_admin=True, tier="unlimited")
    token = accounts.create_token("fuzzer", "fuzz", scopes=tuple(Scope)).token
    accounts.engine.dispose()
    env = {
        "HUBSERVE_DEFAULT_MODEL": LM,
        "HUBSERVE_GEN_CONTEXT_TOKENS": "48",  # every generation is short, whatever max_tokens says
        "HUBSERVE_RATE_LIMIT_TIERS": "anonymous=none;free=none;unlimited=none",
        "HUBSERVE_SPARE_RUNNERS": "0",
    }
    with running_server(home, **env) as (url, _):
        admin = {"Authorization": f"Bearer {token}"}
        loaded = httpx.post(f"{url}/api/models/{LM}/load", params={"pin": "true"}, headers=admin, timeout=120)
        assert loaded.status_code == 200, loaded.text
        yield url, token


def fuzz(url: str, schema: Any, headers: dict[str, str]) -> Tally:
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        for mode, examples in EXAMPLES.items():
            run_operation(url, operation, mode, examples, headers, tally)
        names = {p.name for p in operation.path_parameters}
        for model in (LM, CLS) if names & {"name", "model", "model_id", "repo"} else ():
            # Random ids find no model: pinned to real ones, the bodies reach the runners too.
            namespace, name = model.split("/")
            pinned = {"namespace": namespace, "name": name, "model": model, "model_id": model, "repo": model}
            path = {k: v for k, v in pinned.items() if k in names}
            run_operation(url, operation, GenerationMode.POSITIVE, PINNED_EXAMPLES, headers, tally, path)
    return tally


def run_operation(
    url: str,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    tally: Tally,
    path: dict[str, str] | None = None,
) -> None:
    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is kept as it was sent
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=60)
        tally.examples += 1
        error_type = response.headers.get("x-error-type") or [""]
        answer = f"{response.status_code} {error_type[0]}".strip()
        tally.answers[answer] = tally.answers.get(answer, 0) + 1
        curl = case.as_curl_command(headers=headers, base_url=url)
        crashed = response.status_code >= 500 and error_type[0] in ("", "internal")
        if crashed:
            tally.server_errors.append(f"{response.status_code} {response.text[:300]}\n{curl}")
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            titles = sorted({failure.title for failure in group.exceptions})
            tally.violations.append(
                f"{operation.label} ({mode.value}): {', '.join(titles)}: {response.status_code} "
                f"{response.headers.get('content-type')} {response.text[:300]}\n{curl}"
            )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation with no inputs (GET /health) has nothing to make invalid.
        assert mode is GenerationMode.NEGATIVE, operation.label
        tally.no_invalid_inputs.append(operation.label)


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_every_operation_answers_as_documented(fuzzed: tuple[str, str], caller: str) -> None:
    url, token = fuzzed
    headers = {"Authorization": f"Bearer {token}"} if caller == "admin" else {}
    schema = schemathesis.openapi.from_dict(httpx.get(f"{url}/openapi.json", headers=headers).json())
    tally = fuzz(url, schema, headers)
    print(tally.report())
    assert tally.operations == len([p for item in schema.raw_schema["paths"].values() for p in item])
    assert tally.examples >= tally.operations * sum(EXAMPLES.values()) // 2
    assert not tally.server_errors and not tally.violations, tally.report()
