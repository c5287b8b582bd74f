"""Retention: ``matcher purge`` (and the service's periodic task) applies each policy's limits.

One purge, in one transaction with one audit entry ``purge`` (plus one ``reveal.expire`` entry
per request it expires, and one ``token.expire`` per machine token that ran out since):

* pending reveal requests past their deadline become ``expired``;
* superseded extracts older than ``retention.superseded_extracts_days`` lose their wrapped data
  key (set to NULL: every sealed field of the extract becomes unreadable for good) and, after the
  commit, their blob file;
* finished reveal requests (approved with the disclosure window over, denied, expired) older
  than ``retention.disclosures_days`` are deleted with their decisions and disclosure reads;
* hits are deleted with their outcomes: a hit without a case (no request left, no outcome)
  ``retention.hits_days`` after a run last found it; a closed case (an outcome recorded)
  ``retention.closed_cases_days`` after its last outcome. A hit with a request but no outcome is
  an open case and stays (auditors see it as "request without outcome").

Each hit and request is purged under the retention of its own policy (by id: the active version,
else the newest stored one). Superseded extracts use the shortest limit of the active policies.
The audit log is never purged here (``retention.audit_log_years`` is for the archive), so it
still verifies afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update

from matcher.actions.admin import log_expired_tokens
from matcher.core.audit import Actor, Outcome, PolicyRef
from matcher.core.policy import Retention
from matcher.core.vocabulary import AuditAction
from matcher.store import audit
from matcher.store import reveal as store
from matcher.store.blobs import BlobStore
from matcher.store.database import utc
from matcher.store.policies import list_policies
from matcher.store.tables import extracts, hits, outcomes, reveal_requests

__all__ = ["PurgeSummary", "purge", "retention_by_policy", "run_purge"]


@dataclass(frozen=True)
class PurgeSummary:
    """What one purge did (counts only: the summary is printed and logged)."""

    requests_expired: int
    extracts_purged: int
    blobs_deleted: int
    requests_deleted: int
    hits_deleted: int


def retention_by_policy(conn: Connection) -> dict[str, Retention]:
    """Per policy id, the retention of its active version, else of its newest stored one."""
    chosen: dict[str, tuple[bool, datetime, Retention]] = {}
    for stored in list_policies(conn):
        rank = (stored.status == "active", stored.activated_at)
        current = chosen.get(stored.id)
        if current is None or rank > current[:2]:
            chosen[stored.id] = (*rank, stored.policy.retention)
    return {policy_id: value[2] for policy_id, value in chosen.items()}


def _active_extract_days(conn: Connection) -> int | None:
    active = [p.policy.retention for p in list_policies(conn) if p.status == "active"]
    if not active:
        return None
    return min(r.superseded_extracts_days for r in active)


def _purge_extracts(conn: Connection, now: datetime) -> tuple[int, list[str]]:
    days = _active_extract_days(conn)
    if days is None:  # no active policy: nothing says how long; keep, a later purge decides
        return 0, []
    cutoff = now - timedelta(days=days)
    due = conn.execute(
        select(extracts.c.id, extracts.c.blob_key, extracts.c.wrapped_data_key).where(
            extracts.c.status == "superseded", extracts.c.superseded_at < cutoff
        )
    ).all()
    with_key = [r.id for r in due if r.wrapped_data_key is not None]
    if with_key:
        conn.execute(
            update(extracts).where(extracts.c.id.in_(with_key)).values(wrapped_data_key=None)
        )
    keys = {r.blob_key for r in due}
    # Content-addressed blobs: keep a file another, still readable extract points at.
    in_use = (
        {
            r.blob_key
            for r in conn.execute(
                select(extracts.c.blob_key).where(
                    extracts.c.blob_key.in_(list(keys)), extracts.c.wrapped_data_key.is_not(None)
                )
            )
        }
        if keys
        else set()
    )
    return len(with_key), sorted(keys - in_use)


def _purge_requests(conn: Connection, now: datetime, retention: Mapping[str, Retention]) -> int:
    due: list[str] = []
    rows = conn.execute(
        select(
            reveal_requests.c.id,
            reveal_requests.c.policy_id,
            reveal_requests.c.status,
            reveal_requests.c.decided_at,
            reveal_requests.c.disclosure_until,
        ).where(reveal_requests.c.status != "pending")
    )
    for r in rows:
        limits = retention.get(r.policy_id)
        ended = r.disclosure_until if r.status == "approved" else r.decided_at
        if limits is None or ended is None:
            continue
        if utc(ended) + timedelta(days=limits.disclosures_days) < now:
            due.append(r.id)
    return store.delete_requests(conn, due)


def _purge_hits(conn: Connection, now: datetime, retention: Mapping[str, Retention]) -> int:
    with_requests = {
        int(r.hit_id) for r in conn.execute(select(reveal_requests.c.hit_id).distinct())
    }
    last_outcome = {
        int(r.hit_id): utc(r.last)
        for r in conn.execute(
            select(outcomes.c.hit_id, func.max(outcomes.c.recorded_at).label("last")).group_by(
                outcomes.c.hit_id
            )
        )
    }
    due: list[int] = []
    for r in conn.execute(select(hits.c.id, hits.c.policy_id, hits.c.last_seen)):
        limits = retention.get(r.policy_id)
        if limits is None:
            continue
        hit_id, last_seen = int(r.id), utc(r.last_seen)
        if hit_id in last_outcome:
            closed = max(last_outcome[hit_id], last_seen)
            if closed + timedelta(days=limits.closed_cases_days) < now:
                due.append(hit_id)
        elif hit_id not in with_requests and last_seen + timedelta(days=limits.hits_days) < now:
            due.append(hit_id)
    return store.delete_hit_cascade(conn, due)[0]


def purge(conn: Connection, now: datetime, actor: Actor) -> tuple[PurgeSummary, list[str]]:
    """Apply retention in the caller's transaction; returns the summary and the blob keys to
    delete *after* the commit (a rolled-back purge must not have deleted files)."""
    expired = store.expire_due(conn, now)
    for request in expired:
        audit.append(
            conn,
            actor=actor,
            action=AuditAction.REVEAL_EXPIRE,
            outcome=Outcome("allowed", "request_expired"),
            now=now,
            object_ids={"hit": str(request.hit_id), "company": request.requester_company},
            policy=PolicyRef(request.policy_id, request.policy_digest),
            fields=request.fields,
            request_id=request.id,
        )
    # Machine tokens that ran out since the last purge: a token.expire entry each.
    log_expired_tokens(conn, actor, now)
    purged, blob_keys = _purge_extracts(conn, now)
    retention = retention_by_policy(conn)
    requests_deleted = _purge_requests(conn, now, retention)
    hits_deleted = _purge_hits(conn, now, retention)
    summary = PurgeSummary(
        requests_expired=len(expired),
        extracts_purged=purged,
        blobs_deleted=len(blob_keys),
        requests_deleted=requests_deleted,
        hits_deleted=hits_deleted,
    )
    audit.append(
        conn,
        actor=actor,
        action=AuditAction.PURGE,
        outcome=Outcome("allowed"),
        now=now,
        object_ids={name: str(value) for name, value in asdict(summary).items()},
    )
    return summary, blob_keys


def run_purge(engine: Engine, blobs: BlobStore, now: datetime, actor: Actor) -> PurgeSummary:
    """One purge in its own transaction, then the blob files of purged extracts."""
    with engine.begin() as conn:
        summary, blob_keys = purge(conn, now, actor)
    for key in blob_keys:
        blobs.delete(key)
    return summary
