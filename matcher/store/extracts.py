"""Extracts: one accepted upload package each; at most one ``active`` extract per company.

Queries that serve a company's users take the company id and filter by it here, in the data
layer, so a route can not forget the object-level check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, select

from contract import REF_COLUMN, token_column
from matcher.store.blobs import BlobStore
from matcher.store.database import utc, utcnow
from matcher.store.tables import extracts, users

__all__ = [
    "Extract",
    "NewExtract",
    "active_extract",
    "active_extracts",
    "extract_with_data_key",
    "get_extract",
    "list_extracts",
    "refs_holding_token",
    "store_extract",
]


@dataclass(frozen=True)
class Extract:
    id: str
    company_id: str
    status: str
    as_of: date
    created_at: datetime
    uploaded_by: int
    uploaded_by_name: str
    row_count: int
    size_bytes: int
    records_sha256: str
    blob_key: str
    contract_version: str
    encoding_digest: str
    matching_key_epoch: str
    reveal_key_fingerprint: str
    superseded_at: datetime | None


@dataclass(frozen=True)
class NewExtract:
    """What an accepted upload stores (the manifest as its JSON object)."""

    id: str
    company_id: str
    as_of: date
    uploaded_by: int
    row_count: int
    size_bytes: int
    records_sha256: str
    blob_key: str
    manifest: dict[str, Any]
    contract_version: str
    encoding_digest: str
    matching_key_epoch: str
    reveal_key_fingerprint: str
    wrapped_data_key: str


def _extract(row: Any) -> Extract:
    return Extract(
        id=row.id,
        company_id=row.company_id,
        status=row.status,
        as_of=row.as_of,
        created_at=utc(row.created_at),
        uploaded_by=row.uploaded_by,
        uploaded_by_name=row.uploaded_by_name,
        row_count=row.row_count,
        size_bytes=row.size_bytes,
        records_sha256=row.records_sha256,
        blob_key=row.blob_key,
        contract_version=row.contract_version,
        encoding_digest=row.encoding_digest,
        matching_key_epoch=row.matching_key_epoch,
        reveal_key_fingerprint=row.reveal_key_fingerprint,
        superseded_at=None if row.superseded_at is None else utc(row.superseded_at),
    )


_COLUMNS = [c for c in extracts.c if c.name not in ("manifest", "wrapped_data_key")]


def _select() -> Select[Any]:
    return select(*_COLUMNS, users.c.name.label("uploaded_by_name")).join_from(
        extracts, users, extracts.c.uploaded_by == users.c.id
    )


def active_extract(conn: Connection, company_id: str) -> Extract | None:
    query = _select().where(extracts.c.company_id == company_id, extracts.c.status == "active")
    row = conn.execute(query).first()
    return None if row is None else _extract(row)


def active_extracts(conn: Connection) -> list[Extract]:
    """The latest extract of every company, the input of a run."""
    query = _select().where(extracts.c.status == "active").order_by(extracts.c.company_id)
    return [_extract(r) for r in conn.execute(query)]


def get_extract(conn: Connection, extract_id: str, company_id: str | None) -> Extract | None:
    """One extract; with ``company_id`` only if it is that company's (None: any company)."""
    query = _select().where(extracts.c.id == extract_id)
    if company_id is not None:
        query = query.where(extracts.c.company_id == company_id)
    row = conn.execute(query).first()
    return None if row is None else _extract(row)


def list_extracts(conn: Connection, company_id: str | None) -> list[Extract]:
    query = _select().order_by(extracts.c.created_at, extracts.c.id)
    if company_id is not None:
        query = query.where(extracts.c.company_id == company_id)
    return [_extract(r) for r in conn.execute(query)]


def store_extract(conn: Connection, new: NewExtract) -> Extract:
    """Supersede the company's active extract and insert ``new`` as active.

    Call inside one transaction: a run reading in between sees either the old or the new
    extract, never both or none. The partial unique index turns a concurrent upload of the
    same company into an IntegrityError instead of two active extracts.
    """
    now = utcnow()
    conn.execute(
        extracts.update()
        .where(extracts.c.company_id == new.company_id, extracts.c.status == "active")
        .values(status="superseded", superseded_at=now)
    )
    conn.execute(
        extracts.insert().values(
            id=new.id,
            company_id=new.company_id,
            status="active",
            as_of=new.as_of,
            created_at=now,
            uploaded_by=new.uploaded_by,
            row_count=new.row_count,
            size_bytes=new.size_bytes,
            records_sha256=new.records_sha256,
            blob_key=new.blob_key,
            manifest=new.manifest,
            contract_version=new.contract_version,
            encoding_digest=new.encoding_digest,
            matching_key_epoch=new.matching_key_epoch,
            reveal_key_fingerprint=new.reveal_key_fingerprint,
            wrapped_data_key=new.wrapped_data_key,
        )
    )
    stored = get_extract(conn, new.id, new.company_id)
    assert stored is not None
    return stored


def refs_holding_token(
    conn: Connection, blobs: BlobStore, field: str, wanted: bytes
) -> dict[str, set[str]]:
    """Per company, the refs in its active extract whose ``field`` token is ``wanted`` (read
    from the stored Parquet; the subject access report)."""
    found: dict[str, set[str]] = {}
    for extract in active_extracts(conn):
        rows = (
            pl.scan_parquet(blobs.path_for(extract.blob_key))
            .filter(pl.col(token_column(field)) == wanted)
            .select(REF_COLUMN)
            .collect()
        )
        if rows.height:
            found[extract.company_id] = set(rows[REF_COLUMN].to_list())
    return found


def extract_with_data_key(conn: Connection, wrapped_data_key: str, other_than: str) -> str | None:
    """The id of an extract (any status) other than ``other_than`` whose wrapped data key is
    ``wrapped_data_key``, or None. A key destroyed by retention (NULL) matches nothing."""
    row = conn.execute(
        select(extracts.c.id)
        .where(extracts.c.wrapped_data_key == wrapped_data_key, extracts.c.id != other_than)
        .limit(1)
    ).first()
    return None if row is None else str(row.id)
