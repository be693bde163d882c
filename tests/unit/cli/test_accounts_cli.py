"""The accounts verbs of the ``hubserve`` command, in-process against a SQLite database under ``--home``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hubserve.accounts.store import now_utc
from hubserve.cli import accounts as cli_accounts
from tests.unit.cli.test_main import run


def _state_of(listing: str, name: str) -> str:
    row = next(line for line in listing.splitlines() if f" {name} " in line)
    return row.split("│")[-2].strip()


def test_token_list_shows_expired_revoked_and_active(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert run(capsys, tmp_path, "user", "create", "alice")[0] == 0
    for name, extra in (("lasting", ()), ("brief", ("--expires-in", "1h")), ("gone", ())):
        assert run(capsys, tmp_path, "token", "create", "--user", "alice", "--name", name, *extra)[0] == 0
    _, out, _ = run(capsys, tmp_path, "token", "list")
    token_id = next(line for line in out.splitlines() if " gone " in line).split("│")[1].strip()
    assert run(capsys, tmp_path, "token", "revoke", token_id)[0] == 0

    code, out, _ = run(capsys, tmp_path, "token", "list")
    assert code == 0
    assert {n: _state_of(out, n) for n in ("lasting", "brief", "gone")} == {
        "lasting": "active",
        "brief": "active",
        "gone": "revoked",
    }
    later = now_utc() + timedelta(hours=2)  # the brief token's hour has passed
    monkeypatch.setattr(cli_accounts, "now_utc", lambda: later)
    _, out, _ = run(capsys, tmp_path, "token", "list")
    assert {n: _state_of(out, n) for n in ("lasting", "brief", "gone")} == {
        "lasting": "active",
        "brief": "expired",
        "gone": "revoked",
    }
