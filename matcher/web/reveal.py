"""Reveal pages: request a reveal, my requests, approvals, the disclosure and hit outcomes.

Every action calls the same function as the API (:mod:`matcher.actions.reveal`), so it is
decided by the same policy evaluation and leaves the same audit entries. Each runs in its own
transaction that is committed *before* the page is rendered: a disclosure is never shown, and
a redirect never followed, before its audit entry is stored. A refusal is shown next to the
field it is about (or at the top of the form) with the policy's reason code translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from matcher.actions import reveal as flow
from matcher.api.deps import AppState, Principal, app_state
from matcher.api.params import HitId
from matcher.api.routes.reveal import clock
from matcher.core import limits
from matcher.core.vocabulary import OUTCOME_REASONS, OUTCOMES, REVEAL_REQUEST_STATUSES, Role
from matcher.store import reveal as store
from matcher.web.csrf import verify_csrf
from matcher.web.investigator import hit_page_context
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["REQUEST_FIELD_OF", "router", "time_left"]

router = APIRouter(prefix="/web", include_in_schema=False, dependencies=[Depends(verify_csrf)])

Worker = Annotated[Principal, Depends(signed_in(Role.INVESTIGATOR, Role.APPROVER))]
Investigator = Annotated[Principal, Depends(signed_in(Role.INVESTIGATOR))]
Approver = Annotated[Principal, Depends(signed_in(Role.APPROVER, Role.INVESTIGATOR))]
State = Annotated[AppState, Depends(app_state)]
# The API's clock: decisions are taken at the same time source (tests move it for both).
Now = Annotated[datetime, Depends(clock)]

# Which form field a refusal of a reveal request is about (others go at the top of the form).
REQUEST_FIELD_OF: Mapping[str, str] = {
    "justification_too_short": "justification",
    "case_reference_missing": "case_reference",
    "case_reference_invalid": "case_reference",
    "fields_not_allowed": "fields",
    "no_fields": "fields",
    "purpose": "purpose",  # personal data found in the purpose
    "case_reference": "case_reference",  # personal data found in the case reference
}


def time_left(until: datetime | None, now: datetime) -> tuple[int, int] | None:
    """(hours, minutes) until ``until``; None when there is no deadline or it has passed."""
    if until is None or until <= now:
        return None
    left = until - now
    return (int(left // timedelta(hours=1)), int(left % timedelta(hours=1) // timedelta(minutes=1)))


def _decisions(conn: Connection, requests: list[store.StoredRequest]) -> dict[str, Any]:
    return {r.id: store.decisions_for(conn, r.id) for r in requests}


# --- request a reveal (form on the hit page) -------------------------------------------------


@router.post("/hits/{hit_id}/reveal-requests")
def request_reveal(
    request: Request,
    hit_id: HitId,
    who: Worker,
    state: State,
    now: Now,
    purpose: Annotated[str, Form()] = "",
    case_reference: Annotated[str, Form()] = "",
    justification: Annotated[str, Form()] = "",
    fields: Annotated[list[str] | None, Form()] = None,
) -> Response:
    values: dict[str, Any] = {
        "purpose": purpose,
        "case_reference": case_reference,
        "justification": justification,
        "fields": fields or [],
    }
    # The API's request model checks these before the route runs; so does the form.
    errors: dict[str, str] = {}
    if not purpose.strip() or len(purpose) > limits.PURPOSE_CHARS:
        errors["purpose"] = "purpose_required"
    if not case_reference.strip() or len(case_reference) > limits.CASE_REFERENCE_CHARS:
        errors["case_reference"] = "case_reference_required"
    if len(justification) > limits.JUSTIFICATION_CHARS:
        errors["justification"] = "too_long"
    elif not justification.strip():  # every missing field at once, not one per submit
        errors["justification"] = "justification_too_short"
    if not fields:
        errors["fields"] = "no_fields"
    with state.engine.begin() as conn:
        if not errors:
            result = flow.file_request(
                conn,
                who,
                hit_id,
                purpose=purpose,
                case_reference=case_reference,
                justification=justification,
                fields=fields,
                now=now,
            )
            if not isinstance(result, flow.Refused):
                filed = result.id
            else:
                code = result.code or "refused"
                where = REQUEST_FIELD_OF.get(code, "form")
                errors[where] = "personal_data" if code in ("purpose", "case_reference") else code
        if errors:
            context = hit_page_context(
                conn, state, who, hit_id, request_errors=errors, request_values=values
            )
            return render(request, "hit.html", context, status_code=422)
    return RedirectResponse(f"/web/requests?filed={filed}", status_code=303)


# --- my requests ----------------------------------------------------------------------------


@router.get("/requests")
def my_requests(
    request: Request,
    who: Worker,
    state: State,
    now: Now,
    status: str | None = None,
    filed: str = "",
) -> Response:
    wanted = status if status in REVEAL_REQUEST_STATUSES else None
    with state.engine.begin() as conn:
        shown = flow.visible_requests(conn, who, wanted, now)
        mine = [r for r in shown if r.requester_id == who.user_id]
        decisions = _decisions(conn, mine)
    return render(
        request,
        "requests.html",
        {
            "requests": mine,
            "decisions": decisions,
            "statuses": REVEAL_REQUEST_STATUSES,
            "wanted": wanted,
            "filed": filed,
            "now": now,
            "time_left": time_left,
        },
    )


# --- approvals ------------------------------------------------------------------------------


def _approvals_page(
    request: Request,
    conn: Connection,
    who: Principal,
    errors: Mapping[str, Mapping[str, str]],
    values: Mapping[str, str],
    now: datetime,
    status_code: int = 200,
    decided: str = "",
) -> Response:
    pending = [
        r for r in flow.visible_requests(conn, who, "pending", now) if r.requester_id != who.user_id
    ]
    return render(
        request,
        "approvals.html",
        {
            "requests": pending,
            "errors": errors,
            "values": values,
            "now": now,
            "time_left": time_left,
            "decided": decided,
        },
        status_code=status_code,
    )


@router.get("/approvals")
def approvals(
    request: Request, who: Approver, state: State, now: Now, decided: str = ""
) -> Response:
    with state.engine.begin() as conn:
        page = _approvals_page(request, conn, who, {}, {}, now, decided=decided[:64])
    return page


@router.post("/requests/{request_id}/decision")
def decide(
    request: Request,
    request_id: str,
    who: Approver,
    state: State,
    now: Now,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    problem: str | None = None
    if decision not in ("approve", "deny"):
        problem = "decision_required"
    elif not reason.strip() or len(reason) > limits.DECISION_REASON_CHARS:
        problem = "reason_required"
    with state.engine.begin() as conn:
        if problem is None:
            result = flow.decide(
                conn,
                who,
                request_id,
                "approve" if decision == "approve" else "deny",
                reason,
                now,
            )
            if isinstance(result, flow.Refused):
                problem = result.code or "refused"
        if problem is not None:
            return _approvals_page(
                request,
                conn,
                who,
                {request_id: {"reason": problem}},
                {request_id: reason},
                now,
                status_code=422,
            )
    return RedirectResponse(f"/web/approvals?decided={request_id}", status_code=303)


# --- disclosure -----------------------------------------------------------------------------


@router.get("/requests/{request_id}/disclosure")
def disclosure(request: Request, request_id: str, who: Worker, state: State, now: Now) -> Response:
    with state.engine.begin() as conn:
        result = flow.read_disclosure(
            conn,
            who,
            request_id,
            blobs=state.blobs,
            reveal_private_key_path=state.settings.reveal_private_key_path,
            now=now,
        )
    # Committed: the read (or the refused attempt) is in the audit log before anything shows.
    if isinstance(result, flow.Refused):
        return render(
            request,
            "disclosure.html",
            {"refused": result, "request_id": request_id},
            status_code=result.status,
        )
    return render(
        request,
        "disclosure.html",
        {
            "refused": None,
            "disclosure": result,
            "request_id": request_id,
            "left": time_left(result.request.disclosure_until, now),
        },
    )


# --- outcome (form on the hit page) ---------------------------------------------------------


@router.post("/hits/{hit_id}/outcome")
def record_outcome(
    request: Request,
    hit_id: HitId,
    who: Investigator,
    state: State,
    now: Now,
    outcome: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    values = {"outcome": outcome, "reason": reason, "note": note}
    errors: dict[str, str] = {}
    # The same rules as the API's OutcomeIn model.
    if outcome not in OUTCOMES:
        errors["outcome"] = "outcome_required"
    elif outcome == "no_issue_explained" and reason not in OUTCOME_REASONS:
        errors["reason"] = "reason_required_explained"
    elif outcome != "no_issue_explained" and reason:
        errors["reason"] = "reason_only_explained"
    if len(note) > limits.OUTCOME_NOTE_CHARS:
        errors["note"] = "too_long"
    with state.engine.begin() as conn:
        if errors:
            context = hit_page_context(
                conn, state, who, hit_id, outcome_errors=errors, outcome_values=values
            )
            return render(request, "hit.html", context, status_code=422)
        flow.record_outcome(
            conn, who, hit_id, outcome=outcome, reason=reason or None, note=note, now=now
        )
    return RedirectResponse(f"/web/hits/{hit_id}?recorded=1#outcomes", status_code=303)
