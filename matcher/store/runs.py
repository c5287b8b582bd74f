"""Runs: one matching pass over the active extract of every company, with counts per rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from matcher.store.database import utc, utcnow
from matcher.store.tables import runs

__all__ = ["Run", "create_run", "fail_run", "finish_run", "get_run", "recent_runs"]


@dataclass(frozen=True)
class Run:
    id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    run_date: date
    policy_id: str
    policy_version: str
    policy_digest: str
    extract_ids: dict[str, str]
    counts: dict[str, Any]
    started_by: str
    error: str | None


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        status=row.status,
        started_at=utc(row.started_at),
        finished_at=None if row.finished_at is None else utc(row.finished_at),
        run_date=row.run_date,
        policy_id=row.policy_id,
        policy_version=row.policy_version,
        policy_digest=row.policy_digest,
        extract_ids=dict(row.extract_ids),
        counts=dict(row.counts),
        started_by=row.started_by,
        error=row.error,
    )


def create_run(
    conn: Connection,
    run_id: str,
    run_date: date,
    policy_id: str,
    policy_version: str,
    policy_digest: str,
    extract_ids: dict[str, str],
    started_by: str,
) -> Run:
    conn.execute(
        runs.insert().values(
            id=run_id,
            status="running",
            started_at=utcnow(),
            run_date=run_date,
            policy_id=policy_id,
            policy_version=policy_version,
            policy_digest=policy_digest,
            extract_ids=extract_ids,
            counts={},
            started_by=started_by,
        )
    )
    run = get_run(conn, run_id)
    assert run is not None
    return run


def finish_run(conn: Connection, run_id: str, counts: dict[str, Any]) -> None:
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status="succeeded", finished_at=utcnow(), counts=counts)
    )


def fail_run(conn: Connection, run_id: str, error: str) -> None:
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status="failed", finished_at=utcnow(), error=error)
    )


def get_run(conn: Connection, run_id: str) -> Run | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return None if row is None else _run(row)


def recent_runs(conn: Connection, limit: int) -> list[Run]:
    """The latest ``limit`` runs, newest first."""
    ids = conn.execute(select(runs.c.id).order_by(runs.c.started_at.desc()).limit(limit)).scalars()
    found = [get_run(conn, run_id) for run_id in ids]
    return [run for run in found if run is not None]
