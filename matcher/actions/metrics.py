"""Reading the operational numbers ``/metrics`` reports (a read of aggregates, not audited:
Prometheus scrapes every few seconds, and nothing in it names a person, company or object)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from matcher.store.metrics import AGE_BUCKETS, OpsSnapshot, snapshot

__all__ = ["AGE_BUCKETS", "OpsSnapshot", "read_snapshot"]


def read_snapshot(engine: Engine, now: datetime) -> OpsSnapshot:
    """The stored state's numbers, read in one short transaction."""
    with engine.connect() as conn:
        return snapshot(conn, now)
