"""Migrations, settings and the data directory: the migrated schema equals the tables, a
data directory round-trips through matcher.toml, and the reveal key file is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from contract import pem_fingerprint
from matcher.errors import ConfigError
from matcher.settings import Settings, init_data_dir, load_settings
from matcher.store.database import current_revision, database_ready, head_revision
from matcher.store.tables import metadata
from matcher.store.users import list_users, user_for_token


def test_migrations_create_exactly_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()
    assert database_ready(engine)
    assert {"companies", "users", "extracts", "runs", "hits"} <= set(
        inspect(engine).get_table_names()
    )


def test_init_writes_settings_keys_and_first_admin(
    initialised: tuple[Settings, str], engine: Engine
) -> None:
    settings, token = initialised
    loaded = load_settings(settings.data_dir)
    assert loaded == settings
    mode = stat.S_IMODE(settings.reveal_private_key_path.stat().st_mode)
    assert mode == 0o600
    assert len(pem_fingerprint(settings.reveal_public_key_path.read_bytes())) == 32
    assert b"PRIVATE" not in settings.reveal_public_key_path.read_bytes()
    with engine.connect() as conn:
        admin = user_for_token(conn, token)
        assert admin is not None and admin.role == "admin"
        assert [u.name for u in list_users(conn)] == ["admin"]
    with pytest.raises(ConfigError, match="exists already"):
        init_data_dir(settings.data_dir, settings.database_url)


def test_hybrid_kem_and_missing_settings(tmp_path: Path) -> None:
    settings, _ = init_data_dir(tmp_path / "d", None, kem="MLKEM768-X25519")
    assert settings.reveal_public_key_path.read_bytes().count(b"BEGIN PUBLIC KEY") == 2
    assert load_settings(tmp_path / "d").reveal_kem == "MLKEM768-X25519"
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'matcher.db'}"
    with pytest.raises(ConfigError, match="matcher init"):
        load_settings(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "matcher.toml").write_text('databse_url = "x"\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        load_settings(tmp_path / "bad")


def test_readyz_reports_an_unmigrated_database(tmp_path: Path) -> None:
    from matcher.store.database import create_database_engine

    engine = create_database_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not database_ready(engine)
    finally:
        engine.dispose()
