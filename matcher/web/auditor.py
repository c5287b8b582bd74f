"""Auditor pages: the log with filters, one entry with its inclusion proof, the checkpoint,
verifying the whole log, and statistics with charts.

The log is read with the same store functions as ``/v1/audit/*`` and every page records the
same audit entry as its API call (``audit.entries``, ``audit.proof``, ``audit.checkpoint``,
``audit.stats``). Checking is done the way an auditor's own machine does it: the inclusion
proof with :func:`~matcher.core.audit.verify_inclusion` against a checkpoint whose signature
was verified with the log's public key, and "verify the whole log" runs the offline verifier
(:func:`~matcher.auditlog.verify_export_lines`) over an export made in memory, so the page and
``matcher audit verify`` can not disagree.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from matcher.actions import audit_reads
from matcher.api.deps import AppState, Principal, app_state, record
from matcher.auditlog import Summary, VerifyError, export_lines, verify_export_lines
from matcher.core.audit import (
    AuditEntry,
    Checkpoint,
    CheckpointError,
    inclusion_proof,
    leaf_hash,
    parse_and_verify_checkpoint,
    verify_inclusion,
)
from matcher.crypto import log_public_key
from matcher.errors import InvalidInput, NotFound
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.statistics import AGE_BUCKETS, disclosures_per_user_per_day
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["PAGE_SIZE", "EntryProof", "router"]

router = APIRouter(
    prefix="/web/audit", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Auditor = Annotated[Principal, Depends(signed_in("auditor"))]
# As in the API: admins may check the log too (the checkpoint and proofs), not read entries.
Verifier = Annotated[Principal, Depends(signed_in("auditor", "admin"))]
State = Annotated[AppState, Depends(app_state)]

PAGE_SIZE = 50


@dataclass(frozen=True)
class EntryProof:
    """An entry's inclusion proof and what checking it against the checkpoint gave."""

    seq: int
    size: int
    leaf: str
    proof: tuple[str, ...]
    root: str
    checkpoint_ok: bool
    included: bool
    problem: str | None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _public_key(settings: Settings) -> bytes:
    return log_public_key(settings.log_private_key_path.read_bytes())


def _day(value: str, end: bool) -> datetime | None:
    """A date from a date input, as the start (or end) of that day in UTC; ValueError if bad."""
    if not value:
        return None
    day = date.fromisoformat(value)
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


# --- the log --------------------------------------------------------------------------------


@router.get("")
def log_page(
    request: Request,
    who: Auditor,
    state: State,
    time_from: str = "",
    time_to: str = "",
    actor: str = "",
    action: str = "",
    company: str = "",
    case_reference: str = "",
    cursor: str = "",
) -> Response:
    values = {
        "time_from": time_from,
        "time_to": time_to,
        "actor": actor[:100],
        "action": action[:100],
        "company": company[:64],
        "case_reference": case_reference[:200],
    }
    errors: dict[str, str] = {}
    moments: dict[str, datetime | None] = {}
    for name, end in (("time_from", False), ("time_to", True)):
        try:
            moments[name] = _day(values[name], end)
        except ValueError:
            errors[name] = "date_form"
            moments[name] = None
    filters = audit.EntryFilter(
        moments["time_from"],
        moments["time_to"],
        values["actor"] or None,
        values["action"] or None,
        values["company"] or None,
        values["case_reference"] or None,
    )
    with state.engine.begin() as conn:
        try:
            page = audit.entries(conn, filters, cursor=cursor or None, limit=PAGE_SIZE)
        except InvalidInput:
            page = audit.entries(conn, filters, limit=PAGE_SIZE)  # a stale cursor: start over
        record(conn, who, "audit.entries")
    query = {k: v for k, v in values.items() if v}
    return render(
        request,
        "audit_log.html",
        {
            "entries": page.items,
            "next_cursor": page.next_cursor,
            "paged": bool(cursor),
            "values": values,
            "errors": errors,
            "query": query,
        },
        status_code=422 if errors else 200,
    )


# --- one entry and its proof ----------------------------------------------------------------


def _entry_bytes(conn: Connection, seq: int) -> bytes | None:
    return audit.one_entry_bytes(conn, seq)


def entry_proof(conn: Connection, settings: Settings, seq: int, raw: bytes) -> EntryProof:
    """Prove ``raw`` (entry ``seq``) is in the tree the latest signed checkpoint covers."""
    note = audit.latest_checkpoint(conn, settings)
    checkpoint: Checkpoint | None
    try:
        checkpoint = parse_and_verify_checkpoint(note, _public_key(settings), settings.log_origin)
        problem = None
    except CheckpointError as exc:
        checkpoint, problem = None, str(exc)
    size = checkpoint.size if checkpoint else audit.log_size(conn)
    proof = inclusion_proof(audit.node_source(conn), seq, size)
    # The leaf is hashed from the entry's bytes here, not read from the stored tree: a changed
    # entry then fails the proof, as it would on the auditor's machine.
    leaf = leaf_hash(raw)
    included = checkpoint is not None and verify_inclusion(leaf, seq, size, proof, checkpoint.root)
    return EntryProof(
        seq=seq,
        size=size,
        leaf=_b64(leaf),
        proof=tuple(_b64(p) for p in proof),
        root=checkpoint.root_b64 if checkpoint else "",
        checkpoint_ok=checkpoint is not None,
        included=included,
        problem=problem,
    )


@router.get("/entries/{seq}")
def entry_page(request: Request, seq: int, who: Auditor, state: State) -> Response:
    with state.engine.begin() as conn:
        raw = _entry_bytes(conn, seq) if seq >= 0 else None
        if raw is None:
            raise NotFound(f"no audit entry {seq}")
        checked = entry_proof(conn, state.settings, seq, raw)
        record(conn, who, "audit.proof", {"seq": str(seq), "size": str(checked.size)})
    return render(
        request,
        "audit_entry.html",
        {"entry": AuditEntry.from_json(raw), "raw": raw.decode("utf-8"), "checked": checked},
    )


# --- the checkpoint and the whole log -------------------------------------------------------


def verify_whole_log(conn: Connection, settings: Settings) -> tuple[Summary | None, str | None]:
    """Recompute every leaf and the root over all entries and check the signed checkpoint,
    with the offline verifier; (summary, None) when intact, else (None, the first problem)."""
    size = audit.log_size(conn)
    note = audit.latest_checkpoint(conn, settings, size)
    origin = settings.log_origin
    lines = export_lines(origin, origin, audit.entry_bytes(conn, size), note)
    try:
        return verify_export_lines(lines, _public_key(settings), key_name=origin), None
    except VerifyError as exc:
        return None, str(exc)


@router.get("/checkpoint")
def checkpoint_page(request: Request, who: Verifier, state: State) -> Response:
    with state.engine.begin() as conn:
        note = audit.latest_checkpoint(conn, state.settings)
        record(conn, who, "audit.checkpoint", {"size": note.split("\n")[1]})
    public = _public_key(state.settings).decode("ascii")
    return render(
        request,
        "audit_checkpoint.html",
        {"note": note, "public_key": public, "key_name": state.settings.log_origin},
    )


@router.post("/verify")
def verify_page(request: Request, who: Verifier, state: State) -> Response:
    with state.engine.begin() as conn:
        summary, problem = verify_whole_log(conn, state.settings)
        size = summary.size if summary else audit.log_size(conn)
        reason = None if summary else "verification_failed"
        record(conn, who, "audit.verify", {"size": str(size)}, reason=reason)
        note = audit.latest_checkpoint(conn, state.settings, size)
    return render(
        request,
        "audit_checkpoint.html",
        {
            "note": note,
            "public_key": _public_key(state.settings).decode("ascii"),
            "key_name": state.settings.log_origin,
            "verified": True,
            "summary": summary,
            "summary_line": summary.line() if summary else None,
            "problem": problem,
        },
    )


# --- statistics -----------------------------------------------------------------------------


@router.get("/stats")
def stats_page(request: Request, who: Auditor, state: State) -> Response:
    now = utcnow()
    with state.engine.begin() as conn:
        stats: dict[str, Any] = audit_reads.statistics(conn, who, now)
        daily = disclosures_per_user_per_day(conn)
    return render(
        request,
        "audit_stats.html",
        {
            "stats": stats,
            "daily": daily,
            "age_items": [(name, stats["hits_unreviewed_by_age"][name]) for name, _ in AGE_BUCKETS],
        },
    )
