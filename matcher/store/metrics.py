"""What ``/metrics`` reports about the stored state: counts and ages, read at scrape time.

Everything here is read from the database when Prometheus scrapes, so every worker process
reports the same values. Only aggregates: counts per status, rule, band and age bucket, sizes
and timestamps; no id, company or user appears.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, literal, select

from matcher.store.database import utc
from matcher.store.tables import (
    audit_checkpoints,
    audit_entries,
    extracts,
    hits,
    reveal_requests,
    runs,
)

__all__ = ["AGE_BUCKETS", "OpsSnapshot", "snapshot"]

# Upper bounds of the age buckets (label, age below); the last bucket has none.
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("lt_1h", timedelta(hours=1)),
    ("1h_1d", timedelta(days=1)),
    ("1d_7d", timedelta(days=7)),
    ("7d_30d", timedelta(days=30)),
)
_OLDEST = "ge_30d"


@dataclass(frozen=True)
class OpsSnapshot:
    """The stored state's numbers at one moment."""

    uploads: Mapping[str, int]  # accepted / rejected -> upload.accept / upload.reject entries
    extract_bytes: Mapping[str, int]  # extract status -> stored package bytes
    runs: Mapping[str, int]  # run status -> runs
    last_run_seconds: float | None  # duration of the latest finished run
    last_run_finished: datetime | None
    hits: Mapping[tuple[str, str, str], int]  # (rule, band, status) -> hits
    open_hits_by_age: Mapping[str, int]  # age bucket of first_seen -> open hits
    pending_reveals_by_age: Mapping[str, int]  # age bucket of created_at -> pending requests
    audit_entries: int
    checkpoint_signed: datetime | None
    purges: int
    last_purge: datetime | None
    last_purge_counts: Mapping[str, int] = field(default_factory=dict)


def _bucket(column: Any, now: datetime) -> ColumnElement[str]:
    return case(
        *[(column > now - bound, literal(label)) for label, bound in AGE_BUCKETS],
        else_=literal(_OLDEST),
    )


def _by_age(
    conn: Connection, column: Any, where: ColumnElement[bool], now: datetime
) -> dict[str, int]:
    bucket = _bucket(column, now).label("bucket")
    counts = {label: 0 for label, _ in AGE_BUCKETS} | {_OLDEST: 0}
    for row in conn.execute(select(bucket, func.count()).where(where).group_by(bucket)):
        counts[str(row[0])] = int(row[1])
    return counts


def snapshot(conn: Connection, now: datetime) -> OpsSnapshot:
    """Read every number ``/metrics`` reports from the database."""
    uploads = {"accepted": 0, "rejected": 0}
    for action, count in conn.execute(
        select(audit_entries.c.action, func.count())
        .where(audit_entries.c.action.in_(("upload.accept", "upload.reject")))
        .group_by(audit_entries.c.action)
    ):
        uploads["accepted" if action == "upload.accept" else "rejected"] = int(count)
    extract_bytes = {
        str(status): int(total or 0)
        for status, total in conn.execute(
            select(extracts.c.status, func.sum(extracts.c.size_bytes)).group_by(extracts.c.status)
        )
    }
    run_counts = {
        str(status): int(count)
        for status, count in conn.execute(
            select(runs.c.status, func.count()).group_by(runs.c.status)
        )
    }
    last = conn.execute(
        select(runs.c.started_at, runs.c.finished_at)
        .where(runs.c.finished_at.is_not(None))
        .order_by(runs.c.finished_at.desc())
        .limit(1)
    ).first()
    hit_counts = {
        (str(rule), str(band), str(status)): int(count)
        for rule, band, status, count in conn.execute(
            select(hits.c.rule_id, hits.c.band, hits.c.status, func.count()).group_by(
                hits.c.rule_id, hits.c.band, hits.c.status
            )
        )
    }
    size = conn.execute(select(func.count()).select_from(audit_entries)).scalar_one()
    signed = conn.execute(select(func.max(audit_checkpoints.c.signed_at))).scalar_one()
    purges = conn.execute(
        select(func.count()).where(audit_entries.c.action == "purge")
    ).scalar_one()
    purge_row = conn.execute(
        select(audit_entries.c.time, audit_entries.c.entry)
        .where(audit_entries.c.action == "purge")
        .order_by(audit_entries.c.seq.desc())
        .limit(1)
    ).first()
    purge_counts: dict[str, int] = {}
    if purge_row is not None:
        objects = json.loads(bytes(purge_row.entry))["object"]
        purge_counts = {k: int(v) for k, v in objects.items() if str(v).isdigit()}
    return OpsSnapshot(
        uploads=uploads,
        extract_bytes=extract_bytes,
        runs=run_counts,
        last_run_seconds=(
            None if last is None else (utc(last.finished_at) - utc(last.started_at)).total_seconds()
        ),
        last_run_finished=None if last is None else utc(last.finished_at),
        hits=hit_counts,
        open_hits_by_age=_by_age(conn, hits.c.first_seen, hits.c.status == "open", now),
        pending_reveals_by_age=_by_age(
            conn, reveal_requests.c.created_at, reveal_requests.c.status == "pending", now
        ),
        audit_entries=int(size),
        checkpoint_signed=None if signed is None else utc(signed),
        purges=int(purges),
        last_purge=None if purge_row is None else utc(purge_row.time),
        last_purge_counts=purge_counts,
    )
