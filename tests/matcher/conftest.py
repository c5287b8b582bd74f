"""Fixtures for the matcher's tests: a database per test (SQLite file, and PostgreSQL when
CROSSCHECK_TEST_DATABASE_URL is set), an initialised data directory, the API client and a
world of registered companies and users (builders in ``factories.py``)."""

from __future__ import annotations

import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from matcher.app import create_app
from matcher.settings import Settings, init_data_dir
from matcher.store.database import create_database_engine, upgrade_engine
from matcher.store.tables import metadata
from matcher.store.users import add_user
from tests.matcher.factories import CompanyKit, World, public_pem

PG_ENV = "CROSSCHECK_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once; each test gets a copy (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "matcher.db"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade_engine(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgresql_schema() -> Iterator[str]:
    """One migrated PostgreSQL schema for the session, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://...); unset")
    schema = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    engine = create_database_engine(rendered)
    try:
        upgrade_engine(engine)
        engine.dispose()
        yield rendered
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a copy of the SQLite template, or the session's
    PostgreSQL schema, emptied after the test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "matcher.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    url: str = request.getfixturevalue("postgresql_schema")
    yield url
    engine = create_database_engine(url)
    names = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def initialised(tmp_path: Path, database_url: str) -> tuple[Settings, str]:
    """A data directory made by ``init_data_dir``: settings and the first admin token."""
    return init_data_dir(tmp_path / "data", database_url)


@pytest.fixture
def settings(initialised: tuple[Settings, str]) -> Settings:
    return initialised[0]


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = create_database_engine(settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def world(initialised: tuple[Settings, str], engine: Engine) -> Callable[..., World]:
    """Register companies (default a, b, c), each with a data officer, investigator,
    approver and company administrator, plus one auditor. Signing keys are seeded per company id."""
    from matcher.crypto import reveal_key_fingerprint
    from matcher.store.companies import add_company

    settings, admin_token = initialised

    def build(company_ids: tuple[str, ...] = ("a", "b", "c")) -> World:
        kits: dict[str, CompanyKit] = {}
        with engine.begin() as conn:
            for cid in company_ids:
                seed = random.Random(f"sign-{cid}").randbytes(32)
                key = Ed25519PrivateKey.from_private_bytes(seed)
                add_company(conn, cid, f"Company {cid.upper()}", public_pem(key))
                tokens = {
                    role: add_user(conn, f"{role}-{cid}", role, cid)[1]
                    for role in ("data_officer", "investigator", "approver", "company_admin")
                }
                kits[cid] = CompanyKit(cid, key, tokens)
            auditor = add_user(conn, "auditor", "auditor", None)[1]
        fingerprint = reveal_key_fingerprint(settings.reveal_public_key_path.read_bytes())
        return World(settings, admin_token, fingerprint, kits, auditor)

    return build
