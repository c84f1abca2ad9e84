"""Schema migrations (Alembic): a new database is created at the newest schema, an older one upgraded.

Opening a store that is already at the newest revision costs one query; Alembic is imported only to migrate.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from spanlog.exceptions import StoreError

HEAD = "0001"
"""The newest revision; keep it equal to the last file in versions/."""

_DIR = Path(__file__).resolve().parent
_logger = logging.getLogger("spanlog.store")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the database to ``HEAD``; several processes may do this at once."""
    for attempt in range(5):
        revision = current_revision(engine)
        if revision == HEAD:
            return
        try:
            _run_alembic(engine)
            return
        except SQLAlchemyError as exc:
            # another process migrated at the same moment: look again
            _logger.debug("migration attempt %d failed (%s); retrying", attempt + 1, exc)
    revision = current_revision(engine)
    if revision != HEAD:
        raise StoreError(f"could not migrate the trace store to schema {HEAD} (it is at {revision!r})")


def _run_alembic(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_DIR))
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    revision = current_revision(engine)
    if revision is not None and revision not in known:
        raise StoreError(
            f"the trace store's schema is at revision {revision!r}, newer than this spanlog knows ({HEAD}); "
            "upgrade spanlog"
        )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
