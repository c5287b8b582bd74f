"""Hits API (investigators and approvers): only hits involving the caller's own company.

Items show the own ref and the counterpart's company, never the counterpart's ref and never a
similarity score. Pagination is by opaque cursor, oldest hit first. Every read is an audit
entry; asking for another company's hit is a 404 and a denied entry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from matcher.actions import hits
from matcher.api.deps import Conn, Principal, require
from matcher.api.params import HitId
from matcher.core.vocabulary import Role
from matcher.store.cursors import decode_cursor, encode_cursor
from matcher.store.database import utcnow
from matcher.store.hits import CompanyHit

__all__ = ["HitId", "router"]

router = APIRouter(prefix="/v1", tags=["hits"])

Reader = Annotated[Principal, Depends(require(Role.INVESTIGATOR, Role.APPROVER))]


class HitOut(BaseModel):
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
    # The own company's latest outcome (and sub-reason) and latest reveal request status.
    outcome: str | None = None
    outcome_reason: str | None = None
    reveal_status: str | None = None

    @classmethod
    def of(cls, hit: CompanyHit) -> HitOut:
        return cls(**hit.__dict__)


class HitPage(BaseModel):
    items: list[HitOut]
    next_cursor: str | None


@router.get("/hits")
def get_hits(
    principal: Reader,
    conn: Conn,
    status: Annotated[str | None, Query(max_length=30)] = None,
    rule: Annotated[str | None, Query(max_length=100)] = None,
    band: Literal["strong", "review"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> HitPage:
    items = hits.list_hits(
        conn,
        principal,
        utcnow(),
        status=status,
        rule=rule,
        band=band,
        after_id=decode_cursor(cursor, start=0),
        limit=limit + 1,
    )
    more = len(items) > limit
    items = items[:limit]
    return HitPage(
        items=[HitOut.of(h) for h in items],
        next_cursor=encode_cursor(items[-1].id) if more else None,
    )


@router.get("/hits/{hit_id}")
def get_hit(hit_id: HitId, principal: Reader, conn: Conn) -> HitOut:
    return HitOut.of(hits.read_hit(conn, principal, hit_id, utcnow()))
