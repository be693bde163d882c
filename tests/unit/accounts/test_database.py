"""The SQLite accounts database is private to its owner: 0600 files in a 0700 folder it creates."""

from __future__ import annotations

import stat
from pathlib import Path

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.store import AccountStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_folder_are_private(tmp_path: Path) -> None:
    home = tmp_path / "data" / "home"
    engine = make_engine(default_url(home))
    migrate(engine)
    store = AccountStore(engine)
    store.create_account("alice")
    store.create_token("alice", "laptop")
    files = sorted(home.glob("accounts.db*"))
    assert {p.name for p in files} >= {"accounts.db", "accounts.db-wal", "accounts.db-shm"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert _mode(home) == 0o700
    engine.dispose()


def test_a_readable_database_is_narrowed_and_a_folder_it_did_not_make_is_left(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    old = tmp_path / "accounts.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    engine = make_engine(default_url(tmp_path))
    migrate(engine)
    assert _mode(old) == 0o600
    assert _mode(tmp_path) == 0o755
    engine.dispose()
