"""Runs: one matching pass over the active extract of every company, with counts per rule.

A run is ``queued`` by a door (API, page, CLI), ``running`` once a worker has claimed it, and
``succeeded`` or ``failed`` at the end. Claims and ends are compare-and-set updates: a worker
whose run was taken from it (marked failed as interrupted by the next lease holder) can store
nothing more for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from matcher.core.audit import Actor
from matcher.store.database import utc, utcnow
from matcher.store.tables import runs

__all__ = [
    "Run",
    "beat",
    "claim_next",
    "create_run",
    "fail_run",
    "finish_run",
    "get_run",
    "queue_run",
    "recent_runs",
    "running_runs",
    "set_inputs",
    "set_progress",
]


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
    queued_at: datetime | None = None
    stage: str | None = None
    progress: float | None = None
    heartbeat_at: datetime | None = None
    worker: str | None = None
    retry_of: str | None = None
    actor: Actor | None = None


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        status=row.status,
        started_at=utc(row.started_at),
        finished_at=_time(row.finished_at),
        run_date=row.run_date,
        policy_id=row.policy_id,
        policy_version=row.policy_version,
        policy_digest=row.policy_digest,
        extract_ids=dict(row.extract_ids),
        counts=dict(row.counts),
        started_by=row.started_by,
        error=row.error,
        queued_at=_time(row.queued_at),
        stage=row.stage,
        progress=row.progress,
        heartbeat_at=_time(row.heartbeat_at),
        worker=row.worker,
        retry_of=row.retry_of,
        actor=None if row.actor is None else Actor(**row.actor),
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
    *,
    status: str = "running",
    actor: Actor | None = None,
    retry_of: str | None = None,
) -> Run:
    now = utcnow()
    conn.execute(
        runs.insert().values(
            id=run_id,
            status=status,
            started_at=now,
            queued_at=now,
            run_date=run_date,
            policy_id=policy_id,
            policy_version=policy_version,
            policy_digest=policy_digest,
            extract_ids=extract_ids,
            counts={},
            started_by=started_by,
            actor=None
            if actor is None
            else {"id": actor.id, "role": actor.role, "company": actor.company},
            retry_of=retry_of,
            stage="queued" if status == "queued" else None,
            heartbeat_at=None if status == "queued" else now,
            progress=0.0,
        )
    )
    run = get_run(conn, run_id)
    assert run is not None
    return run


def queue_run(
    conn: Connection,
    run_id: str,
    run_date: date,
    policy: tuple[str, str, str],
    started_by: str,
    actor: Actor,
    retry_of: str | None = None,
) -> Run:
    """A run waiting for a worker; ``policy`` is (id, version, digest) at the time of queueing."""
    policy_id, version, digest = policy
    return create_run(
        conn,
        run_id,
        run_date,
        policy_id,
        version,
        digest,
        {},
        started_by,
        status="queued",
        actor=actor,
        retry_of=retry_of,
    )


def claim_next(conn: Connection, worker: str, now: datetime) -> Run | None:
    """The oldest queued run, now ``running`` under ``worker``; None when the queue is empty."""
    while True:
        run_id = conn.execute(
            select(runs.c.id)
            .where(runs.c.status == "queued")
            .order_by(runs.c.queued_at, runs.c.id)
            .limit(1)
        ).scalar()
        if run_id is None:
            return None
        claimed = conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.status == "queued")
            .values(
                status="running",
                worker=worker,
                started_at=now,
                heartbeat_at=now,
                stage="starting",
                progress=0.0,
            )
        )
        if claimed.rowcount == 1:
            run = get_run(conn, run_id)
            assert run is not None
            return run


def _mine(run_id: str, worker: str | None) -> Any:
    condition = (runs.c.id == run_id) & (runs.c.status == "running")
    return condition if worker is None else condition & (runs.c.worker == worker)


def set_inputs(conn: Connection, run_id: str, worker: str, extract_ids: dict[str, str]) -> bool:
    done = conn.execute(runs.update().where(_mine(run_id, worker)).values(extract_ids=extract_ids))
    return done.rowcount == 1


def set_progress(
    conn: Connection, run_id: str, worker: str, stage: str, progress: float, now: datetime
) -> bool:
    """Record the stage and share done; False when the run is no longer this worker's."""
    done = conn.execute(
        runs.update()
        .where(_mine(run_id, worker))
        .values(stage=stage, progress=progress, heartbeat_at=now)
    )
    return done.rowcount == 1


def finish_run(
    conn: Connection, run_id: str, counts: dict[str, Any], worker: str | None = None
) -> bool:
    """Mark the run succeeded; False (nothing written) when it is not this worker's any more."""
    done = conn.execute(
        runs.update()
        .where(_mine(run_id, worker))
        .values(
            status="succeeded",
            finished_at=utcnow(),
            counts=counts,
            stage="done",
            progress=1.0,
        )
    )
    return done.rowcount == 1


def fail_run(conn: Connection, run_id: str, error: str, worker: str | None = None) -> bool:
    """Mark a queued or running run failed (a worker's own: only while it still holds it)."""
    condition = runs.c.id == run_id
    if worker is None:
        condition &= runs.c.status.in_(("queued", "running"))
    else:
        condition &= (runs.c.status == "running") & (runs.c.worker == worker)
    done = conn.execute(
        runs.update().where(condition).values(status="failed", finished_at=utcnow(), error=error)
    )
    return done.rowcount == 1


def running_runs(conn: Connection) -> list[Run]:
    return [_run(row) for row in conn.execute(select(runs).where(runs.c.status == "running"))]


def beat(conn: Connection, run_id: str, worker: str, now: datetime) -> None:
    """The worker of ``run_id`` is alive (its heartbeat thread calls this)."""
    conn.execute(runs.update().where(_mine(run_id, worker)).values(heartbeat_at=now))


def get_run(conn: Connection, run_id: str) -> Run | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return None if row is None else _run(row)


def recent_runs(conn: Connection, limit: int) -> list[Run]:
    """The latest ``limit`` runs, newest first (by when they were queued)."""
    rows = conn.execute(
        select(runs).order_by(runs.c.queued_at.desc(), runs.c.started_at.desc()).limit(limit)
    )
    return [_run(row) for row in rows]
