"""Auditor pages: the log with filters, one entry with its inclusion proof, the checkpoint,
verifying the whole log, and statistics with charts.

Every page calls the same action as its API route (:mod:`matcher.actions.audit_reads`), so
it records the same audit entry (``audit.entries``, ``audit.proof``, ``audit.checkpoint``,
``audit.verify``, ``audit.stats``) and checks the log the way an auditor's own machine does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from matcher.actions import audit_reads
from matcher.api.deps import AppState, Principal, app_state
from matcher.api.params import LogSeq
from matcher.core import limits
from matcher.core.vocabulary import Role
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.statistics import AGE_BUCKETS, disclosures_per_user_per_day
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(
    prefix="/web/audit", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Auditor = Annotated[Principal, Depends(signed_in(Role.AUDITOR))]
# As in the API: admins may check the log too (the checkpoint and proofs), not read entries.
Verifier = Annotated[Principal, Depends(signed_in(Role.AUDITOR, Role.ADMIN))]
State = Annotated[AppState, Depends(app_state)]

PAGE_SIZE = 50


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
        "actor": actor[: limits.AUDIT_FILTER_CHARS],
        "action": action[: limits.AUDIT_FILTER_CHARS],
        "company": company[: limits.COMPANY_ID_CHARS],
        "case_reference": case_reference[: limits.CASE_REFERENCE_CHARS],
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
        page = audit_reads.entries(
            conn,
            who,
            filters,
            utcnow(),
            cursor=cursor or None,
            limit=PAGE_SIZE,
            restart_stale_cursor=True,
        )
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


@router.get("/entries/{seq}")
def entry_page(request: Request, seq: LogSeq, who: Auditor, state: State) -> Response:
    with state.engine.begin() as conn:
        entry, raw, checked = audit_reads.entry_with_proof(conn, who, state.settings, seq, utcnow())
    return render(
        request,
        "audit_entry.html",
        {"entry": entry, "raw": raw.decode("utf-8"), "checked": checked},
    )


# --- the checkpoint and the whole log -------------------------------------------------------


@router.get("/checkpoint")
def checkpoint_page(request: Request, who: Verifier, state: State) -> Response:
    with state.engine.begin() as conn:
        note = audit_reads.checkpoint(conn, who, state.settings, utcnow())
    public = audit_reads.log_public_key_of(state.settings).decode("ascii")
    return render(
        request,
        "audit_checkpoint.html",
        {"note": note, "public_key": public, "key_name": state.settings.log_origin},
    )


@router.post("/verify")
def verify_page(request: Request, who: Verifier, state: State) -> Response:
    with state.engine.begin() as conn:
        checked = audit_reads.verify_log(conn, who, state.settings, utcnow())
    summary = checked.summary
    return render(
        request,
        "audit_checkpoint.html",
        {
            "note": checked.note,
            "public_key": audit_reads.log_public_key_of(state.settings).decode("ascii"),
            "key_name": state.settings.log_origin,
            "verified": True,
            "summary": summary,
            "summary_line": summary.line() if summary else None,
            "problem": checked.problem,
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
