"""The investigator's review queue and what a hit page reads beside the hit itself (the store
side: queries and the stored Parquet, by value; :mod:`matcher.actions.hits` logs the reads).

The queue is the own company's hits (either side), filtered by status, rule, band and age,
oldest first, with counts per status and band for the current filter, in numbered pages.
A hit page adds the rule in plain words (the policy's own description) and the own contract
period, read from the own company's stored extract: the company's own data, never the
counterpart's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl
from sqlalchemy import Connection, and_, func, select

from matcher.store.blobs import BlobStore
from matcher.store.hits import VISIBLE_COLUMNS, CompanyHit, company_hit, involving
from matcher.store.tables import extracts, hits, policies

__all__ = [
    "PER_PAGE",
    "QueueFilter",
    "QueuePage",
    "hit_policy",
    "own_contract_period",
    "policy_text",
    "review_queue",
]

PER_PAGE = 25


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    rule: str | None = None
    band: str | None = None
    min_age_days: int | None = None  # first seen at least this many days ago


@dataclass(frozen=True)
class QueuePage:
    items: tuple[CompanyHit, ...]
    total: int
    page: int
    pages: int
    by_status: dict[str, int]
    by_band: dict[str, int]
    rules: tuple[str, ...]  # every rule with a hit of the company, for the filter's choices


def review_queue(
    conn: Connection, company_id: str, wanted: QueueFilter, now: datetime, page: int = 1
) -> QueuePage:
    conditions = [involving(company_id)]
    if wanted.status:
        conditions.append(hits.c.status == wanted.status)
    if wanted.rule:
        conditions.append(hits.c.rule_id == wanted.rule)
    if wanted.band:
        conditions.append(hits.c.band == wanted.band)
    if wanted.min_age_days:
        conditions.append(hits.c.first_seen <= now - timedelta(days=wanted.min_age_days))
    where = and_(*conditions)
    total = conn.execute(select(func.count()).select_from(hits).where(where)).scalar_one()
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 1), pages)
    rows = conn.execute(
        select(*VISIBLE_COLUMNS)
        .where(where)
        .order_by(hits.c.first_seen, hits.c.id)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    by_status: dict[str, int] = {
        status: n
        for status, n in conn.execute(
            select(hits.c.status, func.count()).where(where).group_by(hits.c.status)
        )
    }
    by_band: dict[str, int] = {
        band: n
        for band, n in conn.execute(
            select(hits.c.band, func.count()).where(where).group_by(hits.c.band)
        )
    }
    rules = conn.execute(
        select(hits.c.rule_id).where(involving(company_id)).distinct().order_by(hits.c.rule_id)
    ).scalars()
    return QueuePage(
        items=tuple(company_hit(r, company_id) for r in rows),
        total=total,
        page=page,
        pages=pages,
        by_status=by_status,
        by_band=by_band,
        rules=tuple(rules),
    )


def own_contract_period(
    conn: Connection, blobs: BlobStore, hit_id: int, company_id: str
) -> tuple[date, date | None] | None:
    """The own record's contract period (start, end or None when ongoing) from the extract the
    hit came from, if still stored."""
    row = conn.execute(
        select(
            hits.c.company_a, hits.c.ref_a, hits.c.extract_a, hits.c.ref_b, hits.c.extract_b
        ).where(hits.c.id == hit_id, involving(company_id))
    ).first()
    if row is None:
        return None
    own_is_a = row.company_a == company_id
    ref, extract_id = (row.ref_a, row.extract_a) if own_is_a else (row.ref_b, row.extract_b)
    blob_key = conn.execute(
        select(extracts.c.blob_key).where(
            extracts.c.id == extract_id, extracts.c.company_id == company_id
        )
    ).scalar_one_or_none()
    if blob_key is None:
        return None
    path = blobs.path_for(blob_key)
    if not path.is_file():  # deleted by retention: the picture shows the overlap only
        return None
    found = (
        pl.scan_parquet(path)
        .filter(pl.col("ref") == ref)
        .select("contract_start", "contract_end")
        .head(1)
        .collect()
    )
    if found.height == 0:
        return None
    start, end = found.row(0)
    return (start, end) if isinstance(start, date) else None


def hit_policy(conn: Connection, hit_id: int, company_id: str) -> tuple[str, str] | None:
    """The policy id and digest the hit was found under (None: not the company's hit)."""
    row = conn.execute(
        select(hits.c.policy_id, hits.c.policy_digest).where(
            hits.c.id == hit_id, involving(company_id)
        )
    ).first()
    return None if row is None else (row.policy_id, row.policy_digest)


def policy_text(conn: Connection, policy_id: str, digest: str) -> str | None:
    """The stored text of the policy version a hit was found under, if it is stored."""
    raw = conn.execute(
        select(policies.c.raw).where(policies.c.id == policy_id, policies.c.digest == digest)
    ).scalar_one_or_none()
    return None if raw is None else str(raw)
