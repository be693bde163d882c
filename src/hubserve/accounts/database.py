"""The accounts database: an engine for a SQLAlchemy URL (SQLite file by default) and its migrations."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x6875627365  # any constant: pg_advisory_lock key shared by every gateway


def default_url(home: Path) -> str:
    """The embedded default: a SQLite file in the data folder."""
    return f"sqlite:///{home / 'accounts.db'}"


def make_engine(url: str, *, timeout_s: float = 30.0) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so several gateway processes can share the file.

    ``timeout_s``: how long a call waits for a locked SQLite file, or to connect to a server database.
    """
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": timeout_s, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"connect_timeout": max(1, round(timeout_s))} if url.startswith("postgresql") else {}
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=timeout_s,
        connect_args=connect_args,
    )


def _private_sqlite_file(url: str) -> None:
    """Create the database file 0600 (its folder 0700, when this makes it) before SQLite opens it.

    It holds token digests and usage; SQLite gives its -wal and -shm files the database file's mode. A file
    an older version left readable by others is narrowed to 0600.
    """
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri") or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            with contextlib.suppress(PermissionError):  # not ours to change: leave it
                path.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    with _migration_lock(engine) as connection:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        lock_path = Path(f"{database}.migrate.lock") if database and database != ":memory:" else None
        with contextlib.ExitStack() as stack:
            if lock_path is not None:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
                handle = stack.enter_context(open(lock_path, "a", opener=_private_opener))
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield stack.enter_context(engine.connect())
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        connection.commit()
        try:
            yield connection
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
            connection.commit()


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
