"""Runs API (admin): start a matching run, show its status and counts per rule and band.

A run uses the active policy (``POST /v1/policies``); without one it is refused with 409
``no-active-policy``. Starts, ends and reads are audit entries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from matcher.api.deps import AppState, Principal, app_state, connection, record, require
from matcher.errors import NotFound
from matcher.runs import RunSummary, start_run
from matcher.store.runs import get_run

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["runs"])

Admin = Annotated[Principal, Depends(require("admin"))]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_date: date | None = None  # default: today (UTC); open contracts run to this date


class RunOut(BaseModel):
    id: str
    status: str
    run_date: date
    policy_id: str
    policy_version: str
    policy_digest: str
    extract_ids: dict[str, str]
    counts: dict[str, Any]
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, run: RunSummary) -> RunOut:
        return cls(**run.__dict__)


@router.post("/runs", status_code=status.HTTP_201_CREATED)
async def post_run(
    admin: Admin, state: Annotated[AppState, Depends(app_state)], body: RunIn | None = None
) -> RunOut:
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
    return RunOut.of(summary)


@router.get("/runs/{run_id}")
def get_one_run(
    run_id: str, admin: Admin, conn: Annotated[Connection, Depends(connection)]
) -> RunOut:
    run = get_run(conn, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}")
    record(conn, admin, "run.read", {"run": run_id})
    return RunOut.of(RunSummary.of(run))
