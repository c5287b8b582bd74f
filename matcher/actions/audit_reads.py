"""Reads of the log itself that every door shares (the statistics; more to move here).

Each read is an entry too (``audit.stats``), appended after the answer was computed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.vocabulary import AuditAction
from matcher.store import statistics as store

__all__ = ["statistics"]


def statistics(conn: Connection, who: Principal, now: datetime) -> dict[str, Any]:
    """The auditor's counts as of ``now`` (``GET /v1/audit/stats``, the statistics page)."""
    stats = store.statistics(conn, now)
    record(conn, who, AuditAction.AUDIT_STATS, now)
    return stats
