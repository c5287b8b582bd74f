"""The auditor's statistics: counts over hits, requests, decisions, disclosures and the log.

Counts only, users by opaque id; never personal data. Read by ``GET /v1/audit/stats`` and the
statistics page through :func:`matcher.actions.audit_reads.statistics`, which logs the read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from matcher.store.database import utc
from matcher.store.tables import (
    approvals,
    audit_entries,
    disclosure_reads,
    hits,
    outcomes,
    reveal_requests,
)

__all__ = ["AGE_BUCKETS", "disclosures_per_user_per_day", "statistics"]

# Upper bounds in days of the "hits unreviewed by age" buckets; the last is open-ended.
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-7d", 7),
    ("8-30d", 30),
    ("31-90d", 90),
    ("over-90d", None),
)


def statistics(conn: Connection, now: datetime) -> dict[str, Any]:
    """The numbers of ``GET /v1/audit/stats``, as of ``now``."""
    per_user = conn.execute(
        select(disclosure_reads.c.reader_id, func.count())
        .group_by(disclosure_reads.c.reader_id)
        .order_by(disclosure_reads.c.reader_id)
    ).all()
    per_policy = conn.execute(
        select(reveal_requests.c.policy_id, func.count())
        .select_from(
            disclosure_reads.join(
                reveal_requests, disclosure_reads.c.request_id == reveal_requests.c.id
            )
        )
        .group_by(reveal_requests.c.policy_id)
        .order_by(reveal_requests.c.policy_id)
    ).all()
    has_outcome = select(outcomes.c.id).where(outcomes.c.hit_id == reveal_requests.c.hit_id)
    without_outcome = conn.execute(
        select(func.count()).select_from(reveal_requests).where(~has_outcome.exists())
    ).scalar_one()
    unreviewed = conn.execute(
        select(hits.c.first_seen).where(
            and_(
                hits.c.status == "open",
                ~select(outcomes.c.id).where(outcomes.c.hit_id == hits.c.id).exists(),
            )
        )
    ).all()
    buckets = {name: 0 for name, _ in AGE_BUCKETS}
    for (first_seen,) in unreviewed:
        age = now - utc(first_seen)
        for name, days in AGE_BUCKETS:
            if days is None or age <= timedelta(days=days):
                buckets[name] += 1
                break
    mix = conn.execute(
        select(outcomes.c.outcome, func.count())
        .group_by(outcomes.c.outcome)
        .order_by(outcomes.c.outcome)
    ).all()
    decided = conn.execute(
        select(approvals.c.approver_id, approvals.c.decision, func.count())
        .group_by(approvals.c.approver_id, approvals.c.decision)
        .order_by(approvals.c.approver_id)
    ).all()
    per_approver: dict[str, dict[str, int]] = {}
    for approver, decision, n in decided:
        counts = per_approver.setdefault(str(approver), {"approved": 0, "denied": 0})
        counts["approved" if decision == "approve" else "denied"] += int(n)
    denied = conn.execute(
        select(audit_entries.c.actor_id, func.count())
        .where(audit_entries.c.result == "denied")
        .group_by(audit_entries.c.actor_id)
        .order_by(audit_entries.c.actor_id)
    ).all()
    return {
        "as_of": now.isoformat(),
        "disclosures_per_user": {str(user): int(n) for user, n in per_user},
        "disclosures_per_policy": {str(policy): int(n) for policy, n in per_policy},
        "requests_without_outcome": int(without_outcome),
        "hits_unreviewed_by_age": buckets,
        "outcome_mix": {str(outcome): int(n) for outcome, n in mix},
        "decisions_per_approver": per_approver,
        "denied_attempts_per_user": {str(actor): int(n) for actor, n in denied},
    }


def disclosures_per_user_per_day(conn: Connection) -> dict[str, dict[date, int]]:
    """How many disclosures each user (opaque id) read per day (UTC)."""
    counts: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for reader, read_at in conn.execute(
        select(disclosure_reads.c.reader_id, disclosure_reads.c.read_at)
    ):
        counts[str(reader)][utc(read_at).date()] += 1
    return {user: dict(days) for user, days in counts.items()}
