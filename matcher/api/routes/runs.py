"""Runs API (admin): start a matching run, show its status and counts per rule and band.

A run uses the active policy (``POST /v1/policies``); without one it is refused with 409
``no-active-policy``. Starts, ends, reads and listings are audit entries (the actions in
:mod:`matcher.actions.runs`, which the pages and the CLI call too).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from matcher.actions import runs
from matcher.actions.runs import RunSummary, start_run
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.core.vocabulary import Role
from matcher.store.database import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["runs"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_date: date | None = None  # default: today (UTC); open contracts run to this date


@router.post("/runs", status_code=status.HTTP_201_CREATED)
async def post_run(
    admin: Admin, state: Annotated[AppState, Depends(app_state)], body: RunIn | None = None
) -> RunSummary:
    """Run the active policy over the latest extract of every company (synchronously)."""
    run_date = (body.run_date if body else None) or datetime.now(UTC).date()
    summary = await run_in_threadpool(
        start_run,
        state.settings,
        None,
        run_date,
        admin.name,
        engine=state.engine,
        actor=admin.actor,
    )
    return summary


@router.get("/runs")
def get_runs(
    admin: Admin,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[RunSummary]:
    """The latest runs, newest first."""
    return runs.list_runs(conn, admin, utcnow(), limit)


@router.get("/runs/{run_id}")
def get_one_run(run_id: str, admin: Admin, conn: Conn) -> RunSummary:
    return runs.read_run(conn, admin, run_id, utcnow())
