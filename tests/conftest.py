"""Fixtures: one store per test on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from segmail.store.db import Store, open_store

# fixtures several modules use, found by name: the sandboxes, and the contract checks' sandbox-or-live targets
pytest_plugins = ("tests.plugins.sandboxes", "tests.live_targets")

PG_URL = os.environ.get("SEGMAIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("SEGMAIL_REQUIRE_PG") == "1"
T = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # the pinned as-of time of the rule tests


def pg_databases(count: int, prefix: str = "segmail_test") -> Iterator[list[str]]:
    """`count` throw-away databases on the PostgreSQL server, dropped afterwards (a generator for a
    fixture); skipped (or failed under SEGMAIL_REQUIRE_PG=1, as in CI) when the server is unreachable."""
    names = [f"{prefix}_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set SEGMAIL_TEST_PG_URL"
        if REQUIRE_PG:
            pytest.fail(f"SEGMAIL_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    base = PG_URL.rsplit("/", 1)[0]
    yield [f"{base}/{name}" for name in names]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def reset_schema(url: str) -> None:
    """An empty public schema in the database at `url` (a fresh store for the next test)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server; skipped (or failed in CI) when unreachable."""
    for urls in pg_databases(1):
        yield urls[0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = request.getfixturevalue("pg_database")
    reset_schema(url)
    yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.dispose()
