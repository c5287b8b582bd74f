"""The extracts repository: one active extract per company, enforced by the database too."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from matcher.store.extracts import NewExtract, active_extract, get_extract, store_extract
from matcher.store.tables import extracts
from tests.matcher.factories import World


def new_extract(company: str, as_of: date, user_id: int) -> NewExtract:
    return NewExtract(
        id=str(uuid.uuid4()),
        company_id=company,
        as_of=as_of,
        uploaded_by=user_id,
        row_count=1,
        size_bytes=10,
        records_sha256="0" * 64,
        blob_key="0" * 64,
        manifest={},
        contract_version="1",
        encoding_digest="sha256:x",
        matching_key_epoch="e",
        reveal_key_fingerprint="f" * 32,
        wrapped_data_key="k",
    )


def test_store_supersedes_and_scopes_reads_by_company(
    world: Callable[..., World], engine: Engine
) -> None:
    world(("a", "b"))
    with engine.begin() as conn:
        first = store_extract(conn, new_extract("a", date(2026, 1, 1), 1))
        second = store_extract(conn, new_extract("a", date(2026, 2, 1), 1))
        active = active_extract(conn, "a")
        assert active is not None and active.id == second.id
        old = get_extract(conn, first.id, "a")
        assert old is not None and old.status == "superseded" and old.superseded_at
        assert get_extract(conn, first.id, "b") is None
        assert second.uploaded_by_name == "admin"


def test_database_refuses_two_active_extracts_of_one_company(
    world: Callable[..., World], engine: Engine
) -> None:
    world(("a",))
    with engine.begin() as conn:
        store_extract(conn, new_extract("a", date(2026, 1, 1), 1))
    row = new_extract("a", date(2026, 2, 1), 1).__dict__ | {"status": "active"}
    row["created_at"] = datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(extracts.insert().values(**row))
