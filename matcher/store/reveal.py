"""Reveal requests, approvals, disclosure reads and hit outcomes in the database.

Repositories only: what may happen is decided by :mod:`matcher.core.decisions`, what happened is
written to the audit log by the caller in the same transaction. Requests are locked with
:func:`lock_request` before a decision, so two approvers clicking at once can not both complete
a request, and an approval can not race its expiry.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from matcher.core.decisions import Approval, RevealRequest, request_binding
from matcher.core.policy import Policy
from matcher.errors import NoActivePolicy
from matcher.store.database import utc
from matcher.store.policies import active_policy, list_policies
from matcher.store.tables import (
    approvals,
    disclosure_reads,
    extracts,
    hits,
    outcomes,
    reveal_requests,
)

__all__ = [
    "Decision",
    "ExtractKey",
    "HitOutcome",
    "HitSides",
    "NewRequest",
    "StoredRequest",
    "add_decision",
    "add_outcome",
    "complete_request",
    "decisions_for",
    "delete_hit_cascade",
    "delete_requests",
    "disclosure_reads_for",
    "expire_due",
    "extract_key",
    "get_request",
    "hit_annotations",
    "hit_sides",
    "hits_by_refs",
    "insert_request",
    "lock_request",
    "outcomes_for_hit",
    "policy_for",
    "record_read",
    "requests_for_hits",
    "requests_of_companies",
    "requests_of_requester",
]


@dataclass(frozen=True)
class HitSides:
    """Both records of a hit, as only the reveal workflow may see them."""

    id: int
    rule_id: str
    company_a: str
    ref_a: str
    extract_a: str
    company_b: str
    ref_b: str
    extract_b: str
    policy_id: str
    policy_digest: str
    first_seen: datetime
    last_seen: datetime

    @property
    def companies(self) -> tuple[str, str]:
        return (self.company_a, self.company_b)

    def other(self, company: str | None) -> str:
        return self.company_b if company == self.company_a else self.company_a


@dataclass(frozen=True)
class NewRequest:
    hit: HitSides
    requester_id: int
    requester_company: str
    fields: tuple[str, ...]
    purpose: str
    case_reference: str
    justification: str
    policy_id: str
    policy_digest: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class StoredRequest:
    """A reveal request row. :meth:`for_policy` is what the policy evaluates."""

    id: str
    hit_id: int
    rule_id: str
    company_a: str
    company_b: str
    requester_id: int
    requester_company: str
    fields: tuple[str, ...]
    purpose: str
    case_reference: str
    justification: str
    policy_id: str
    policy_digest: str
    binding: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    disclosure_until: datetime | None

    @property
    def companies(self) -> tuple[str, str]:
        return (self.company_a, self.company_b)

    def other(self, company: str | None) -> str:
        return self.company_b if company == self.company_a else self.company_a

    def for_policy(self) -> RevealRequest:
        return RevealRequest(
            hit_id=str(self.hit_id),
            rule_id=self.rule_id,
            hit_companies=self.companies,
            requester_id=str(self.requester_id),
            requester_company=self.requester_company,
            fields=self.fields,
            purpose=self.purpose,
            policy_digest=self.policy_digest,
            created_at=self.created_at,
        )


@dataclass(frozen=True)
class Decision:
    """One approver's approval or denial of a request."""

    request_id: str
    approver_id: int
    approver_role: str
    approver_company: str | None
    decision: str
    reason: str
    binding: str
    decided_at: datetime

    def as_approval(self) -> Approval:
        return Approval(
            approver_id=str(self.approver_id),
            approver_role=self.approver_role,
            approver_company=self.approver_company,
            binding=self.binding,
            approved_at=self.decided_at,
        )


@dataclass(frozen=True)
class HitOutcome:
    hit_id: int
    company_id: str
    outcome: str
    reason: str | None
    note: str
    recorded_at: datetime


@dataclass(frozen=True)
class ExtractKey:
    """Where an extract's records are and its wrapped data key (None once retention ran)."""

    id: str
    company_id: str
    blob_key: str
    wrapped_data_key: str | None


# --- policies --------------------------------------------------------------------------------


def policy_for(conn: Connection, policy_id: str) -> Policy | None:
    """The policy a reveal step is decided under: the active version of ``policy_id``.

    Without an active version, the newest stored one marked retired (so the decision says
    "retired" rather than "no policy"); None when the id was never activated. Either way the
    evaluation denies, since only an active policy allows anything.
    """
    try:
        return active_policy(conn, policy_id).policy
    except NoActivePolicy:
        pass
    stored = [p for p in list_policies(conn) if p.id == policy_id]
    if not stored:
        return None
    newest = max(stored, key=lambda p: p.activated_at)
    return replace(newest.policy, status="retired")


# --- hits ------------------------------------------------------------------------------------


def hit_sides(conn: Connection, hit_id: int) -> HitSides | None:
    row = conn.execute(
        select(
            hits.c.id,
            hits.c.rule_id,
            hits.c.company_a,
            hits.c.ref_a,
            hits.c.extract_a,
            hits.c.company_b,
            hits.c.ref_b,
            hits.c.extract_b,
            hits.c.policy_id,
            hits.c.policy_digest,
            hits.c.first_seen,
            hits.c.last_seen,
        ).where(hits.c.id == hit_id)
    ).first()
    if row is None:
        return None
    return HitSides(
        id=row.id,
        rule_id=row.rule_id,
        company_a=row.company_a,
        ref_a=row.ref_a,
        extract_a=row.extract_a,
        company_b=row.company_b,
        ref_b=row.ref_b,
        extract_b=row.extract_b,
        policy_id=row.policy_id,
        policy_digest=row.policy_digest,
        first_seen=utc(row.first_seen),
        last_seen=utc(row.last_seen),
    )


def hits_by_refs(conn: Connection, refs: Mapping[str, Collection[str]]) -> list[HitSides]:
    """Hits with a record ``(company, ref)`` among ``refs`` on either side (subject access)."""
    conditions = []
    for company, company_refs in refs.items():
        if company_refs:
            listed = list(company_refs)
            conditions.append(and_(hits.c.company_a == company, hits.c.ref_a.in_(listed)))
            conditions.append(and_(hits.c.company_b == company, hits.c.ref_b.in_(listed)))
    if not conditions:
        return []
    ids = [
        r.id for r in conn.execute(select(hits.c.id).where(or_(*conditions)).order_by(hits.c.id))
    ]
    found = [hit_sides(conn, int(i)) for i in ids]
    return [h for h in found if h is not None]


def extract_key(conn: Connection, extract_id: str) -> ExtractKey | None:
    row = conn.execute(
        select(
            extracts.c.id, extracts.c.company_id, extracts.c.blob_key, extracts.c.wrapped_data_key
        ).where(extracts.c.id == extract_id)
    ).first()
    if row is None:
        return None
    return ExtractKey(row.id, row.company_id, row.blob_key, row.wrapped_data_key)


# --- requests --------------------------------------------------------------------------------


def _request(row: Any) -> StoredRequest:
    return StoredRequest(
        id=row.id,
        hit_id=int(row.hit_id),
        rule_id=row.rule_id,
        company_a=row.company_a,
        company_b=row.company_b,
        requester_id=int(row.requester_id),
        requester_company=row.requester_company,
        fields=tuple(row.fields),
        purpose=row.purpose,
        case_reference=row.case_reference,
        justification=row.justification,
        policy_id=row.policy_id,
        policy_digest=row.policy_digest,
        binding=row.binding,
        status=row.status,
        created_at=utc(row.created_at),
        expires_at=utc(row.expires_at),
        decided_at=None if row.decided_at is None else utc(row.decided_at),
        disclosure_until=None if row.disclosure_until is None else utc(row.disclosure_until),
    )


def insert_request(conn: Connection, new: NewRequest) -> StoredRequest:
    request_id = str(uuid.uuid4())
    binding = request_binding(
        RevealRequest(
            hit_id=str(new.hit.id),
            rule_id=new.hit.rule_id,
            hit_companies=new.hit.companies,
            requester_id=str(new.requester_id),
            requester_company=new.requester_company,
            fields=new.fields,
            purpose=new.purpose,
            policy_digest=new.policy_digest,
            created_at=new.created_at,
        )
    )
    conn.execute(
        reveal_requests.insert().values(
            id=request_id,
            hit_id=new.hit.id,
            rule_id=new.hit.rule_id,
            company_a=new.hit.company_a,
            company_b=new.hit.company_b,
            requester_id=new.requester_id,
            requester_company=new.requester_company,
            fields=list(new.fields),
            purpose=new.purpose,
            case_reference=new.case_reference,
            justification=new.justification,
            policy_id=new.policy_id,
            policy_digest=new.policy_digest,
            binding=binding,
            status="pending",
            created_at=new.created_at,
            expires_at=new.expires_at,
        )
    )
    stored = get_request(conn, request_id)
    assert stored is not None
    return stored


def get_request(conn: Connection, request_id: str) -> StoredRequest | None:
    row = conn.execute(select(reveal_requests).where(reveal_requests.c.id == request_id)).first()
    return None if row is None else _request(row)


def lock_request(conn: Connection, request_id: str) -> None:
    """Take the request's row lock for the rest of the transaction.

    A no-op UPDATE rather than SELECT ... FOR UPDATE: on PostgreSQL it locks the row the same
    way, and on SQLite a write as the first statement takes the database write lock at once, so
    the reads that follow can not be of a snapshot another writer is about to change.
    """
    conn.execute(
        update(reveal_requests)
        .where(reveal_requests.c.id == request_id)
        .values(status=reveal_requests.c.status)
    )


def requests_of_requester(
    conn: Connection, requester_id: int, status: str | None
) -> list[StoredRequest]:
    query = select(reveal_requests).where(reveal_requests.c.requester_id == requester_id)
    if status is not None:
        query = query.where(reveal_requests.c.status == status)
    return [_request(r) for r in conn.execute(query.order_by(reveal_requests.c.created_at))]


def requests_of_companies(
    conn: Connection, company: str, status: str | None
) -> list[StoredRequest]:
    """Requests about hits that involve ``company`` (the route filters by policy side)."""
    query = select(reveal_requests).where(
        or_(reveal_requests.c.company_a == company, reveal_requests.c.company_b == company)
    )
    if status is not None:
        query = query.where(reveal_requests.c.status == status)
    return [_request(r) for r in conn.execute(query.order_by(reveal_requests.c.created_at))]


def requests_for_hits(conn: Connection, hit_ids: Collection[int]) -> list[StoredRequest]:
    if not hit_ids:
        return []
    query = select(reveal_requests).where(reveal_requests.c.hit_id.in_(list(hit_ids)))
    return [_request(r) for r in conn.execute(query.order_by(reveal_requests.c.created_at))]


def expire_due(
    conn: Connection, now: datetime, request_ids: Collection[str] | None = None
) -> list[StoredRequest]:
    """Mark pending requests past their deadline expired; returns them (the caller logs each).

    ``request_ids`` limits it to those requests (expiry on read); None expires all that are due.
    """
    due = and_(reveal_requests.c.status == "pending", reveal_requests.c.expires_at < now)
    query = select(reveal_requests).where(due)
    if request_ids is not None:
        if not request_ids:
            return []
        query = query.where(reveal_requests.c.id.in_(list(request_ids)))
    expired = [_request(r) for r in conn.execute(query.order_by(reveal_requests.c.created_at))]
    if expired:
        conn.execute(
            update(reveal_requests)
            .where(reveal_requests.c.id.in_([r.id for r in expired]), due)
            .values(status="expired", decided_at=now)
        )
    return expired


def complete_request(
    conn: Connection,
    request_id: str,
    status: str,
    now: datetime,
    disclosure_until: datetime | None = None,
) -> None:
    """Move a pending request to ``approved`` (with its disclosure deadline) or ``denied``."""
    conn.execute(
        update(reveal_requests)
        .where(reveal_requests.c.id == request_id, reveal_requests.c.status == "pending")
        .values(status=status, decided_at=now, disclosure_until=disclosure_until)
    )


# --- decisions and reads ---------------------------------------------------------------------


def decisions_for(conn: Connection, request_id: str) -> list[Decision]:
    rows = conn.execute(
        select(approvals).where(approvals.c.request_id == request_id).order_by(approvals.c.id)
    )
    return [
        Decision(
            request_id=r.request_id,
            approver_id=int(r.approver_id),
            approver_role=r.approver_role,
            approver_company=r.approver_company,
            decision=r.decision,
            reason=r.reason,
            binding=r.binding,
            decided_at=utc(r.decided_at),
        )
        for r in rows
    ]


def add_decision(conn: Connection, decision: Decision) -> None:
    conn.execute(
        approvals.insert().values(
            request_id=decision.request_id,
            approver_id=decision.approver_id,
            approver_role=decision.approver_role,
            approver_company=decision.approver_company,
            decision=decision.decision,
            reason=decision.reason,
            binding=decision.binding,
            decided_at=decision.decided_at,
        )
    )


def record_read(
    conn: Connection, request_id: str, reader_id: int, fields: Sequence[str], now: datetime
) -> None:
    conn.execute(
        disclosure_reads.insert().values(
            request_id=request_id, reader_id=reader_id, fields=list(fields), read_at=now
        )
    )


def disclosure_reads_for(conn: Connection, request_ids: Collection[str]) -> list[datetime]:
    """When the disclosures of these requests were read (for the subject report)."""
    if not request_ids:
        return []
    rows = conn.execute(
        select(disclosure_reads.c.read_at)
        .where(disclosure_reads.c.request_id.in_(list(request_ids)))
        .order_by(disclosure_reads.c.read_at)
    )
    return [utc(r.read_at) for r in rows]


# --- outcomes --------------------------------------------------------------------------------


def add_outcome(
    conn: Connection,
    *,
    hit_id: int,
    company_id: str,
    outcome: str,
    reason: str | None,
    note: str,
    recorded_by: int,
    now: datetime,
) -> HitOutcome:
    conn.execute(
        outcomes.insert().values(
            hit_id=hit_id,
            company_id=company_id,
            outcome=outcome,
            reason=reason,
            note=note,
            recorded_by=recorded_by,
            recorded_at=now,
        )
    )
    return HitOutcome(hit_id, company_id, outcome, reason, note, now)


def outcomes_for_hit(conn: Connection, hit_id: int) -> list[HitOutcome]:
    rows = conn.execute(
        select(outcomes).where(outcomes.c.hit_id == hit_id).order_by(outcomes.c.recorded_at)
    )
    return [
        HitOutcome(int(r.hit_id), r.company_id, r.outcome, r.reason, r.note, utc(r.recorded_at))
        for r in rows
    ]


def hit_annotations(
    conn: Connection, hit_ids: Collection[int], company_id: str
) -> dict[int, tuple[HitOutcome | None, str | None]]:
    """Per hit: the latest outcome ``company_id`` recorded, and the status of its latest reveal
    request filed by that company (None: no outcome / no request). For the hits list."""
    result: dict[int, tuple[HitOutcome | None, str | None]] = {h: (None, None) for h in hit_ids}
    if not hit_ids:
        return result
    ids = list(hit_ids)
    rows = conn.execute(
        select(outcomes)
        .where(outcomes.c.hit_id.in_(ids), outcomes.c.company_id == company_id)
        .order_by(outcomes.c.recorded_at, outcomes.c.id)
    )
    latest: dict[int, HitOutcome] = {}
    for r in rows:
        latest[int(r.hit_id)] = HitOutcome(
            int(r.hit_id), r.company_id, r.outcome, r.reason, r.note, utc(r.recorded_at)
        )
    statuses: dict[int, str] = {}
    for r in conn.execute(
        select(reveal_requests.c.hit_id, reveal_requests.c.status)
        .where(
            reveal_requests.c.hit_id.in_(ids),
            reveal_requests.c.requester_company == company_id,
        )
        .order_by(reveal_requests.c.created_at)
    ):
        statuses[int(r.hit_id)] = r.status
    return {h: (latest.get(h), statuses.get(h)) for h in ids}


def delete_hit_cascade(conn: Connection, hit_ids: Collection[int]) -> tuple[int, int]:
    """Delete hits with their requests, decisions, reads and outcomes; (hits, requests)."""
    if not hit_ids:
        return (0, 0)
    ids = list(hit_ids)
    request_ids = [
        r.id
        for r in conn.execute(select(reveal_requests.c.id).where(reveal_requests.c.hit_id.in_(ids)))
    ]
    delete_requests(conn, request_ids)
    conn.execute(delete(outcomes).where(outcomes.c.hit_id.in_(ids)))
    deleted = conn.execute(delete(hits).where(hits.c.id.in_(ids))).rowcount
    return (int(deleted), len(request_ids))


def delete_requests(conn: Connection, request_ids: Collection[str]) -> int:
    if not request_ids:
        return 0
    ids = list(request_ids)
    conn.execute(delete(disclosure_reads).where(disclosure_reads.c.request_id.in_(ids)))
    conn.execute(delete(approvals).where(approvals.c.request_id.in_(ids)))
    return int(conn.execute(delete(reveal_requests).where(reveal_requests.c.id.in_(ids))).rowcount)
