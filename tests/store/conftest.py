"""Store fixtures: ``store_uri`` runs a test against SQLite and against a real PostgreSQL server.

The PostgreSQL server is started once per session (see ``tests/postgres_server.py``: the server of
``SPANLOG_TEST_POSTGRES_URI``, else a throwaway local one) and every test gets its own fresh database,
dropped afterwards. Only the ``postgresql`` case needs the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresNotInstalled, PostgresServer, missing_allowed, start


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session; skips only when SPANLOG_ALLOW_NO_POSTGRES=1."""
    try:
        server = start()
    except PostgresNotInstalled as exc:
        if missing_allowed():
            pytest.skip(str(exc))
        raise
    with server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of an empty database: a SQLite file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'spanlog.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)
