"""Alembic environment: runs on the connection handed in by ``matcher.store.database``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from matcher.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through matcher.store.database.upgrade_database")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite can not ALTER most things; batch mode recreates tables for later migrations.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
