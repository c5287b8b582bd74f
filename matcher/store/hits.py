"""Hits: a pair of records at two companies that a rule flagged, kept across runs.

A hit's identity is (rule, company_a, ref_a, company_b, ref_b): a later run that finds the
same pair updates it and keeps its id, first_seen and review status; an open hit that a run
no longer finds becomes ``resolved_by_data``. Reads for companies go through
:func:`hits_for_company` / :func:`hit_for_company`, which filter by the caller's company and
never return the score or the counterpart's ref.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, literal, or_, select

from matcher.store.database import utc
from matcher.store.tables import hits

__all__ = [
    "VISIBLE_COLUMNS",
    "CompanyHit",
    "FoundHit",
    "UpsertResult",
    "company_hit",
    "hit_for_company",
    "hits_for_company",
    "involving",
    "upsert_hits",
]


@dataclass(frozen=True)
class FoundHit:
    """One row of the engine's output, with the extract each side came from."""

    rule_id: str
    lane: str
    band: str
    company_a: str
    ref_a: str
    extract_a: str
    company_b: str
    ref_b: str
    extract_b: str
    overlap_start: date
    overlap_end: date
    overlap_days: int
    score: float | None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.rule_id, self.company_a, self.ref_a, self.company_b, self.ref_b)


@dataclass(frozen=True)
class UpsertResult:
    new: int
    still_present: int
    reopened: int
    resolved_by_data: int


@dataclass(frozen=True)
class CompanyHit:
    """A hit as one company's investigators see it: their own ref, the other company's id."""

    id: int
    rule: str
    band: str
    status: str
    own_company: str
    own_ref: str
    counterpart_company: str
    overlap_start: date
    overlap_end: date
    overlap_days: int
    first_seen: datetime
    last_seen: datetime
    # Issue 4: the own company's latest outcome (and its sub-reason) and the status of the own
    # company's latest reveal request for this hit; None when there is none.
    outcome: str | None = None
    outcome_reason: str | None = None
    reveal_status: str | None = None


def upsert_hits(
    conn: Connection,
    found: Iterable[FoundHit],
    run_id: str,
    policy_id: str,
    policy_digest: str,
    now: datetime,
) -> UpsertResult:
    """Merge one run's hits into the table (call inside the run's final transaction)."""
    existing: dict[tuple[str, str, str, str, str], tuple[int, str]] = {
        (r.rule_id, r.company_a, r.ref_a, r.company_b, r.ref_b): (r.id, r.status)
        for r in conn.execute(
            select(
                hits.c.id,
                hits.c.rule_id,
                hits.c.company_a,
                hits.c.ref_a,
                hits.c.company_b,
                hits.c.ref_b,
                hits.c.status,
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    reopened = 0
    seen: set[tuple[str, str, str, str, str]] = set()
    for hit in found:
        if hit.key in seen:  # the engine should not repeat a pair; never insert it twice
            continue
        seen.add(hit.key)
        values = {
            "lane": hit.lane,
            "band": hit.band,
            "extract_a": hit.extract_a,
            "extract_b": hit.extract_b,
            "overlap_start": hit.overlap_start,
            "overlap_end": hit.overlap_end,
            "overlap_days": hit.overlap_days,
            "score": hit.score,
            "policy_id": policy_id,
            "policy_digest": policy_digest,
            "last_run_id": run_id,
            "last_seen": now,
        }
        if hit.key in existing:
            hit_id, status = existing[hit.key]
            reopened += status == "resolved_by_data"
            # Bind names must differ from column names in an UPDATE ... SET.
            updates.append({"b_id": hit_id, **{f"b_{k}": v for k, v in values.items()}})
        else:
            inserts.append(
                {
                    "rule_id": hit.rule_id,
                    "company_a": hit.company_a,
                    "ref_a": hit.ref_a,
                    "company_b": hit.company_b,
                    "ref_b": hit.ref_b,
                    "status": "open",
                    "first_run_id": run_id,
                    "first_seen": now,
                    **values,
                }
            )
    if updates:
        statement = (
            hits.update()
            .where(hits.c.id == bindparam("b_id"))
            .values(
                {
                    **{name[2:]: bindparam(name) for name in updates[0] if name != "b_id"},
                    # A pair that came back after vanishing is open again; review states
                    # (issue 4) are decisions of people and stay as they are.
                    "status": case(
                        (hits.c.status == "resolved_by_data", literal("open")),
                        else_=hits.c.status,
                    ),
                }
            )
        )
        conn.execute(statement, updates)
    if inserts:
        conn.execute(hits.insert(), inserts)
    resolved = conn.execute(
        hits.update()
        .where(hits.c.status == "open", hits.c.last_run_id != run_id)
        .values(status="resolved_by_data")
    ).rowcount
    return UpsertResult(len(inserts), len(updates), reopened, resolved)


def company_hit(row: Any, company_id: str) -> CompanyHit:
    """A hit row as ``company_id``'s investigators see it (the row must be one of theirs)."""
    own_is_a = row.company_a == company_id
    return CompanyHit(
        id=row.id,
        rule=row.rule_id,
        band=row.band,
        status=row.status,
        own_company=company_id,
        own_ref=row.ref_a if own_is_a else row.ref_b,
        counterpart_company=row.company_b if own_is_a else row.company_a,
        overlap_start=row.overlap_start,
        overlap_end=row.overlap_end,
        overlap_days=row.overlap_days,
        first_seen=utc(row.first_seen),
        last_seen=utc(row.last_seen),
    )


# Never the score: it stays in the database for quality reports only.
VISIBLE_COLUMNS = [c for c in hits.c if c.name != "score"]


def involving(company_id: str) -> Any:
    """The condition "this hit involves ``company_id``": the data layer's object check."""
    return or_(hits.c.company_a == company_id, hits.c.company_b == company_id)


def hits_for_company(
    conn: Connection,
    company_id: str,
    *,
    status: str | None = None,
    rule: str | None = None,
    band: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[CompanyHit]:
    """Hits involving ``company_id``, oldest first, ids after ``after_id``."""
    query = (
        select(*VISIBLE_COLUMNS)
        .where(involving(company_id))
        .where(hits.c.id > after_id)
        .order_by(hits.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(hits.c.status == status)
    if rule is not None:
        query = query.where(hits.c.rule_id == rule)
    if band is not None:
        query = query.where(hits.c.band == band)
    return _annotated(conn, [company_hit(r, company_id) for r in conn.execute(query)], company_id)


def _annotated(conn: Connection, found: list[CompanyHit], company_id: str) -> list[CompanyHit]:
    from matcher.store.reveal import hit_annotations  # reveal imports policies; keep hits light

    notes = hit_annotations(conn, [h.id for h in found], company_id)
    annotated = []
    for hit in found:
        outcome, reveal_status = notes[hit.id]
        annotated.append(
            replace(
                hit,
                outcome=None if outcome is None else outcome.outcome,
                outcome_reason=None if outcome is None else outcome.reason,
                reveal_status=reveal_status,
            )
        )
    return annotated


def hit_for_company(conn: Connection, hit_id: int, company_id: str) -> CompanyHit | None:
    query = select(*VISIBLE_COLUMNS).where(hits.c.id == hit_id, involving(company_id))
    row = conn.execute(query).first()
    return None if row is None else _annotated(conn, [company_hit(row, company_id)], company_id)[0]
