"""Engine creation and schema migrations for the matcher's database.

One code path for SQLite (embedded default) and PostgreSQL (``postgresql+psycopg://``).
SQLite gets WAL (readers do not block the uploader) and foreign keys on every connection.
Migrations are Alembic scripts in ``migrations/``, run programmatically: no alembic.ini.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from matcher.errors import InvalidInput


class DatabaseAt(Protocol):
    """Which database to use: a value the caller passes (the settings are one)."""

    @property
    def database_url(self) -> str: ...


__all__ = [
    "MAX_ROW_ID",
    "MIGRATIONS_DIR",
    "create_database_engine",
    "current_revision",
    "database_ready",
    "head_revision",
    "upgrade_database",
    "upgrade_engine",
    "utc",
    "utcnow",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Row ids and log sequence numbers are 64-bit signed (BIGINT; SQLite's INTEGER): a larger
# number names no row, and the drivers refuse to bind it (OverflowError, out of range), so the
# API rejects it as input before it reaches a query.
MAX_ROW_ID: Final = 2**63 - 1


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Uploads and runs write in short transactions; wait for the lock instead of failing.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _refuse_nul(
    _conn: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> None:
    """No text the matcher stores or looks up holds U+0000, and PostgreSQL text can not: the
    driver would fail (a 500 for a NUL in a path, query or body). Refused as invalid input
    before it is bound, alike on both backends."""
    rows: Sequence[Any] = parameters if executemany else (parameters,)
    for row in rows:
        values = row.values() if isinstance(row, Mapping) else (row or ())
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise InvalidInput("text may not contain the character U+0000 (NUL)")


def create_database_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def upgrade_database(settings: DatabaseAt) -> None:
    """``matcher db upgrade``: bring the schema to the newest migration."""
    engine = create_database_engine(settings.database_url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def database_ready(engine: Engine) -> bool:
    """True when the database answers and its schema is at the newest migration."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return current_revision(engine) == head_revision()
    except Exception:  # any driver error means "not ready"; /readyz reports, never raises
        return False


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
