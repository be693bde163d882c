"""Accounts test fixtures: every database test runs on a SQLite file and on a fresh PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hubserve.accounts.database import default_url, make_engine, migrate

PG_ENV = "HUBSERVE_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty, not yet migrated database: a SQLite file path, or a new schema dropped afterwards."""
    if backend == "sqlite":
        yield default_url(tmp_path)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.fail(
            f"{PG_ENV} is not set: point it at a PostgreSQL database, e.g. "
            f"{PG_ENV}=postgresql+psycopg://hubserve:hubserve@127.0.0.1:5432/hubserve_test "
            "(or deselect with -k sqlite)"
        )
    schema = f"accounts_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def db_url(fresh_url: str) -> str:
    engine = make_engine(fresh_url)
    migrate(engine)
    engine.dispose()
    return fresh_url
