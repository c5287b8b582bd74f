"""Audit API: signed checkpoint, entries, inclusion and consistency proofs, statistics.

Auditors read the log and check it: ``GET /v1/audit/checkpoint`` is the C2SP signed note for the
current size (text/plain); proofs are RFC 9162 paths as base64 hashes. Each of these reads is an
audit entry too, appended after the answer was computed, so a checkpoint never covers the entry
recording its own fetch. Statistics count; they never show personal data (users by opaque id).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from matcher.actions import audit_reads
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.api.params import LogSeqQuery, LogSizeQuery
from matcher.core import limits
from matcher.core.vocabulary import Role
from matcher.store import audit
from matcher.store.database import MAX_ROW_ID, utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
Verifier = Annotated[Principal, Depends(require(Role.AUDITOR, Role.ADMIN))]


@router.get("/checkpoint", response_class=PlainTextResponse)
def get_checkpoint(
    principal: Verifier, conn: Conn, state: Annotated[AppState, Depends(app_state)]
) -> PlainTextResponse:
    """The signed checkpoint (C2SP tlog-checkpoint note) for the log as it is now."""
    note = audit_reads.checkpoint(conn, principal, state.settings, utcnow())
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


class EntryPageOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


@router.get("/entries")
def get_entries(
    principal: Auditor,
    conn: Conn,
    time_from: Annotated[datetime | None, Query(alias="from")] = None,
    time_to: Annotated[datetime | None, Query(alias="to")] = None,
    actor: Annotated[str | None, Query(max_length=limits.AUDIT_FILTER_CHARS)] = None,
    action: Annotated[str | None, Query(max_length=limits.AUDIT_FILTER_CHARS)] = None,
    company: Annotated[str | None, Query(max_length=limits.COMPANY_ID_CHARS)] = None,
    case_reference: Annotated[str | None, Query(max_length=limits.CASE_REFERENCE_CHARS)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EntryPageOut:
    """Entries in seq order, each exactly as hashed into the log; filters combine with AND."""
    filters = audit.EntryFilter(time_from, time_to, actor, action, company, case_reference)
    page = audit_reads.entries(conn, principal, filters, utcnow(), cursor=cursor, limit=limit)
    return EntryPageOut(items=[e.to_dict() for e in page.items], next_cursor=page.next_cursor)


class InclusionOut(BaseModel):
    seq: int
    size: int
    leaf_hash: str
    root: str
    proof: list[str]


@router.get("/proofs/inclusion")
def get_inclusion(
    principal: Verifier,
    conn: Conn,
    seq: LogSeqQuery,
    size: LogSizeQuery,
) -> InclusionOut:
    """RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` entries."""
    return InclusionOut(**asdict(audit_reads.inclusion(conn, principal, seq, size, utcnow())))


class ConsistencyOut(BaseModel):
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]


@router.get("/proofs/consistency")
def get_consistency(
    principal: Verifier,
    conn: Conn,
    from_size: Annotated[int, Query(alias="from", ge=0, le=MAX_ROW_ID)],
    to_size: Annotated[int, Query(alias="to", ge=0, le=MAX_ROW_ID)],
) -> ConsistencyOut:
    """RFC 9162 consistency proof that the tree of ``to`` entries extends the one of ``from``."""
    proof = audit_reads.consistency(conn, principal, from_size, to_size, utcnow())
    return ConsistencyOut(**asdict(proof))


@router.get("/stats")
def get_stats(principal: Auditor, conn: Conn) -> dict[str, Any]:
    """Counts for auditors: disclosures per user and per policy, requests without an outcome,
    open hits without an outcome by age, the outcome mix, denied attempts per user."""
    return audit_reads.statistics(conn, principal, utcnow())
