"""Investigator pages: the review queue and a hit's page (approvers may read them too).

The hit page also carries the "request reveal" form, the own company's requests for the hit,
the outcome form and the outcome history; their POST handlers are in :mod:`matcher.web.reveal`.

Both read only the signed-in person's own company's hits: another company's hit id in the URL
is the same friendly 404 as an id that does not exist, so the page does not even confirm it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from matcher.actions import hits as hit_actions
from matcher.actions import reveal as flow
from matcher.actions.hits import QueueFilter
from matcher.api.deps import AppState, Conn, Principal, app_state
from matcher.api.params import HitId
from matcher.core.vocabulary import BANDS, HIT_STATUSES, OUTCOME_REASONS, OUTCOMES, Role
from matcher.errors import NotFound
from matcher.store import reveal as store
from matcher.store.hits import hit_for_company
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in
from matcher.web.timeline import Period

__all__ = ["AGES", "BANDS", "hit_page_context", "router"]

router = APIRouter(prefix="/web", include_in_schema=False, dependencies=[Depends(verify_csrf)])

Reader = Annotated[Principal, Depends(signed_in(Role.INVESTIGATOR, Role.APPROVER))]

AGES = (7, 30, 90)  # "first seen at least N days ago": what is getting stale


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/queue")
def queue(
    request: Request,
    principal: Reader,
    conn: Conn,
    status: str | None = None,
    rule: str | None = None,
    band: str | None = None,
    age: str | None = None,
    page: int = 1,
) -> Response:
    min_age = int(age) if age in {str(a) for a in AGES} else None
    wanted = QueueFilter(
        status=_choice(status, HIT_STATUSES),
        rule=rule or None,
        band=_choice(band, BANDS),
        min_age_days=min_age,
    )
    result = hit_actions.review_queue(conn, principal, wanted, datetime.now(UTC), page)
    return render(
        request,
        "queue.html",
        {
            "queue": result,
            "wanted": wanted,
            "statuses": HIT_STATUSES,
            "bands": BANDS,
            "ages": AGES,
        },
    )


def hit_page_context(
    conn: Connection,
    state: AppState,
    principal: Principal,
    hit_id: int,
    *,
    request_errors: Mapping[str, str] | None = None,
    request_values: Mapping[str, Any] | None = None,
    outcome_errors: Mapping[str, str] | None = None,
    outcome_values: Mapping[str, str] | None = None,
    opened: bool = False,
) -> dict[str, Any]:
    """Everything the hit page shows, also when a form on it comes back with errors.

    ``opened``: the person opened the page (a read, logged as ``hit.read`` like the API's);
    a form coming back with errors shows the hit read already."""
    company = principal.own_company()
    if opened:
        hit = hit_actions.read_hit(conn, principal, hit_id, datetime.now(UTC))
    else:
        found = hit_for_company(conn, hit_id, company)
        if found is None:
            raise NotFound(f"no hit {hit_id}")
        hit = found
    context = hit_actions.hit_context(conn, principal, hit, state.blobs, state.settings.policy_path)
    own = None if context.own_period is None else Period(*context.own_period)
    # What the policy would reveal: read from the policy text, the same function the
    # request itself is checked with (reveal_flow), so the form can not promise other fields.
    form = flow.request_form(conn, hit_id, principal)
    may_request = form.policy is not None and principal.role in form.policy.reveal.requesters
    requests = [
        r for r in store.requests_for_hits(conn, [hit_id]) if r.requester_company == company
    ]
    return {
        "hit": hit,
        "policy_id": context.policy_id,
        "description": context.description,
        "own_period": own,
        "overlap": Period(hit.overlap_start, hit.overlap_end),
        "today": date.today(),
        "form": form,
        "may_request": may_request,
        "may_record_outcome": principal.role == "investigator",
        "requests": requests,
        "outcomes": [o for o in store.outcomes_for_hit(conn, hit_id) if o.company_id == company],
        "outcome_choices": OUTCOMES,
        "outcome_reasons": OUTCOME_REASONS,
        "request_errors": request_errors or {},
        # Nothing pre-checked: the investigator asks only for what the case needs.
        "request_values": request_values or {"fields": []},
        "outcome_errors": outcome_errors or {},
        "outcome_values": outcome_values or {},
    }


@router.get("/hits/{hit_id}")
def hit_page(
    request: Request,
    hit_id: HitId,
    principal: Reader,
    conn: Conn,
    state: Annotated[AppState, Depends(app_state)],
) -> Response:
    return render(
        request, "hit.html", hit_page_context(conn, state, principal, hit_id, opened=True)
    )
