"""Alembic environment: runs migrations on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from spanlog.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("spanlog migrations run through spanlog.store.migrations.upgrade(engine)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
