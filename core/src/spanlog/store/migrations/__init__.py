"""Schema migrations (Alembic): a new database is created at the newest schema, an older one upgraded.

Opening a store that is already at the newest revision costs one query; Alembic is imported only to migrate.
Processes that open a new store at the same moment take turns: each migrates inside a transaction that holds
the database's write lock (SQLite) or an advisory lock (PostgreSQL), and looks at the revision again once it
has it, so those that come second find the work done. (SQLite's Python driver would otherwise run each
``CREATE TABLE`` in a transaction of its own, and the others would see a half-made schema.)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from spanlog.exceptions import StoreError

HEAD = "0001"
"""The newest revision; keep it equal to the last file in versions/."""

MIGRATION_LOCK_KEY = 0x7370616E6C6F67  # "spanlog": PostgreSQL's advisory lock for migrations
"""The key of the PostgreSQL advisory lock that migrating processes take turns on."""

_DIR = Path(__file__).resolve().parent
_logger = logging.getLogger("spanlog.store")
_ATTEMPTS = 3  # the lock does the waiting (SQLite's busy timeout, PostgreSQL's lock queue): retries are for a
# dropped connection or a lock not had within that timeout, and a lasting error is reported in well under a second


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the database to ``HEAD``; several processes may do this at once (they take turns)."""
    if current_revision(engine) == HEAD:
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                _lock_for_migration(conn)
                revision = _revision(conn)  # again, now that no one else is migrating
                if revision != HEAD:
                    _run_alembic(conn, revision)
            return
        except SQLAlchemyError as exc:
            if attempt == _ATTEMPTS:
                raise StoreError(
                    f"could not migrate the trace store to schema {HEAD} "
                    f"(it is at {_revision_or_unknown(engine)!r}): {exc}"
                ) from exc
            _logger.debug("migration attempt %d failed (%s); retrying", attempt, exc)
            time.sleep(0.1 * attempt)


def _lock_for_migration(conn: Connection) -> None:
    """Hold, until the transaction ends, the lock that migrating processes take turns on."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # the write lock, waiting for it up to the connection's busy timeout; the DDL that follows runs in
        # this transaction (the driver opens none for DDL by itself)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def _revision_or_unknown(engine: Engine) -> str | None:
    try:
        return current_revision(engine)
    except SQLAlchemyError:
        return "unknown"


def _run_alembic(conn: Connection, revision: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_DIR))
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise StoreError(
            f"the trace store's schema is at revision {revision!r}, newer than this spanlog knows ({HEAD}); "
            "upgrade spanlog"
        )
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
