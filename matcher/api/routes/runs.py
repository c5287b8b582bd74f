"""Runs API (admin): queue a matching run, show its progress, status and counts per rule and band.

``POST /v1/runs`` answers 202 at once with the queued run; the background worker
(:mod:`matcher.actions.worker`) works it, and ``GET /v1/runs/{id}`` shows its stage and share
done until it ends. A run uses the active policy (``POST /v1/policies``); without one it is
refused with 409 ``no-active-policy``. A failed run can be queued again with
``POST /v1/runs/{id}/retry``. Starts, ends, reads and listings are audit entries (the actions in
:mod:`matcher.actions.runs`, which the pages and the CLI call too).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from matcher.actions import runs
from matcher.actions.runs import RunSummary
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.core.vocabulary import Role
from matcher.store.database import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["runs"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_date: date | None = None  # default: today (UTC); open contracts run to this date


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED)
async def post_run(
    admin: Admin, state: Annotated[AppState, Depends(app_state)], body: RunIn | None = None
) -> RunSummary:
    """Queue a run of the active policy over the latest extract of every company."""
    run_date = (body.run_date if body else None) or datetime.now(UTC).date()
    summary = await run_in_threadpool(
        runs.queue_run, state.engine, state.settings, None, run_date, admin.name, actor=admin.actor
    )
    state.nudge_worker()
    return summary


@router.post("/runs/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_run(
    run_id: str, admin: Admin, state: Annotated[AppState, Depends(app_state)]
) -> RunSummary:
    """Queue a failed run again: same run date, under the policy active now (409 unless the
    run failed)."""
    summary = await run_in_threadpool(
        runs.retry_run, state.engine, state.settings, run_id, admin.name, actor=admin.actor
    )
    state.nudge_worker()
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
