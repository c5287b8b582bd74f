"""Investigator pages: the review queue and a hit's page (approvers may read them too).

Both read only the signed-in person's own company's hits: another company's hit id in the URL
is the same friendly 404 as an id that does not exist, so the page does not even confirm it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from matcher.errors import NotFound
from matcher.service.deps import AppState, Principal, app_state, connection
from matcher.store.hits import hit_for_company
from matcher.store.tables import HIT_STATUSES
from matcher.web.csrf import verify_csrf
from matcher.web.queue import (
    QueueFilter,
    hit_policy,
    own_contract_period,
    review_queue,
    rule_description,
)
from matcher.web.render import render
from matcher.web.session import signed_in
from matcher.web.timeline import Period

__all__ = ["AGES", "BANDS", "router"]

router = APIRouter(prefix="/web", include_in_schema=False, dependencies=[Depends(verify_csrf)])

Reader = Annotated[Principal, Depends(signed_in("investigator", "approver"))]
Conn = Annotated[Connection, Depends(connection)]

BANDS = ("strong", "review")
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
    company = principal.own_company()
    min_age = int(age) if age in {str(a) for a in AGES} else None
    wanted = QueueFilter(
        status=_choice(status, HIT_STATUSES),
        rule=rule or None,
        band=_choice(band, BANDS),
        min_age_days=min_age,
    )
    result = review_queue(conn, company, wanted, datetime.now(UTC), page)
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


@router.get("/hits/{hit_id}")
def hit_page(
    request: Request,
    hit_id: int,
    principal: Reader,
    conn: Conn,
    state: Annotated[AppState, Depends(app_state)],
) -> Response:
    company = principal.own_company()
    hit = hit_for_company(conn, hit_id, company)
    policy = hit_policy(conn, hit_id, company)
    if hit is None or policy is None:
        raise NotFound(f"no hit {hit_id}")
    description = rule_description(conn, state.settings, policy[0], policy[1], hit.rule)
    own = own_contract_period(conn, state.blobs, hit_id, company)
    return render(
        request,
        "hit.html",
        {
            "hit": hit,
            "policy_id": policy[0],
            "description": description,
            "own_period": own,
            "overlap": Period(hit.overlap_start, hit.overlap_end),
            "today": date.today(),
        },
    )
