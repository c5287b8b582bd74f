"""The reveal workflow's actions, shared by the API (``/v1``) and the web pages (``/web``).

Each function takes the caller's connection (one transaction), the signed-in principal and the
time of the decision; it asks the policy (:mod:`matcher.core.decisions`), changes the store
(:mod:`matcher.store.reveal`) and writes the audit entry in that same transaction. So an action
leaves the same entries whichever door it came through. A refusal by the policy is *returned*
as :class:`Refused`, not raised, so the caller commits: its audit entry must survive although
the action did not happen. A hit or request the caller may not see raises
:class:`~matcher.errors.NotFound` (the app's error handler logs that attempt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection

from matcher.actions.principal import Principal
from matcher.actions.refusal import Refused
from matcher.core import decisions
from matcher.core.audit import (
    Actor,
    AuditEntry,
    InvalidAuditEntry,
    Outcome,
    PolicyRef,
    format_time,
)
from matcher.core.decisions import Allowed, Denied
from matcher.core.policy import Policy
from matcher.core.vocabulary import AuditAction
from matcher.crypto import SealedDataUnreadable
from matcher.disclosure import (
    LEAD_NOT_VERDICT,
    DisclosedRecord,
    DisclosureUnavailable,
    RecordSource,
    disclose,
)
from matcher.errors import NotFound
from matcher.store import audit
from matcher.store import reveal as store
from matcher.store.audit import system_actor
from matcher.store.blobs import BlobStore
from matcher.store.tables import OUTCOMES

__all__ = [
    "Disclosure",
    "Refused",
    "RequestForm",
    "decide",
    "expire",
    "file_request",
    "may_decide",
    "read_disclosure",
    "read_request",
    "record_outcome",
    "request_form",
    "visible_requests",
]


@dataclass(frozen=True)
class Disclosure:
    """What a requester may read: both records' allowed fields, own company first."""

    request: store.StoredRequest
    policy: PolicyRef
    fields: tuple[str, ...]
    records: tuple[DisclosedRecord, ...]
    notice: str


@dataclass(frozen=True)
class RequestForm:
    """What the "request reveal" form tells before anything is filed (no audit entry: it
    reads the policy text only, nothing about the records)."""

    hit: store.HitSides
    policy: Policy | None
    fields: tuple[str, ...]
    min_justification: int
    case_reference_pattern: str | None


def _audit_actor(principal: Principal) -> Actor:
    return Actor(str(principal.user_id), principal.role, principal.company_id)


def _policy_actor(principal: Principal) -> decisions.Actor:
    return decisions.Actor(str(principal.user_id), principal.role, principal.company_id)


def _ref(policy: Policy | None, fallback_id: str, fallback_digest: str) -> PolicyRef:
    if policy is None:
        return PolicyRef(fallback_id, fallback_digest)
    return PolicyRef(policy.id, policy.digest)


def _refusal(denied: Denied) -> Refused:
    return Refused(403, "reveal-denied", "Refused by the policy", denied.reason, denied.code)


def _free_text_problem(principal: Principal, now: datetime, **texts: str) -> str | None:
    """The name of the first text that the audit log would refuse as personal data, if any.

    Purpose and case reference go into audit entries, which leave the company; checked before
    anything is written, so the request is refused cleanly instead of failing at append.
    """
    for name, value in texts.items():
        try:
            AuditEntry(
                seq=0,
                time=format_time(now),
                actor=_audit_actor(principal),
                action="check",
                outcome=Outcome("allowed"),
                purpose=value,
            )
        except InvalidAuditEntry:
            return name
    return None


def expire(conn: Connection, now: datetime, request_ids: Sequence[str] | None) -> None:
    """Expire due pending requests (all, or just these) and log each expiry."""
    for expired in store.expire_due(conn, now, request_ids):
        audit.append(
            conn,
            actor=system_actor(),
            action=AuditAction.REVEAL_EXPIRE,
            outcome=Outcome("allowed", "request_expired"),
            now=now,
            object_ids={"hit": str(expired.hit_id), "company": expired.requester_company},
            policy=PolicyRef(expired.policy_id, expired.policy_digest),
            fields=expired.fields,
            request_id=expired.id,
        )


def may_decide(policy: Policy | None, request: store.StoredRequest, who: Principal) -> bool:
    """Whether ``who`` is someone the policy lets decide on ``request`` (for listing only; the
    decision itself is evaluated in full by :func:`decisions.evaluate_approval`)."""
    if policy is None or who.role not in policy.reveal.approvers:
        return False
    if who.user_id == request.requester_id or who.company_id not in request.companies:
        return False
    side = policy.reveal.approval_side
    if side == "own":
        return who.company_id == request.requester_company
    if side == "counterpart":
        return who.company_id != request.requester_company
    return True


def _visible(conn: Connection, request_id: str, who: Principal) -> store.StoredRequest:
    """The request if ``who`` filed it or works at a company of its hit; else 404 (whether it
    exists is not told to others)."""
    request = store.get_request(conn, request_id)
    if request is None or (
        request.requester_id != who.user_id and who.company_id not in request.companies
    ):
        raise NotFound(f"no reveal request {request_id}")
    return request


def _own_hit(conn: Connection, hit_id: int, who: Principal) -> store.HitSides:
    company = who.own_company()
    hit = store.hit_sides(conn, hit_id)
    if hit is None or company not in hit.companies:
        raise NotFound(f"no hit {hit_id}")
    return hit


# --- requests --------------------------------------------------------------------------------


def request_form(conn: Connection, hit_id: int, who: Principal) -> RequestForm:
    """The fields the policy would reveal for this hit's rule and the form's limits."""
    hit = _own_hit(conn, hit_id, who)
    policy = store.policy_for(conn, hit.policy_id)
    rule = (
        None
        if policy is None
        else next((r for r in policy.rules.rules if r.id == hit.rule_id), None)
    )
    return RequestForm(
        hit=hit,
        policy=policy,
        fields=() if rule is None else rule.reveal_fields,
        min_justification=0 if policy is None else policy.reveal.min_justification_chars,
        case_reference_pattern=None if policy is None else policy.reveal.case_reference_pattern,
    )


def file_request(
    conn: Connection,
    who: Principal,
    hit_id: int,
    *,
    purpose: str,
    case_reference: str,
    justification: str,
    fields: Sequence[str] | None,
    now: datetime,
) -> store.StoredRequest | Refused:
    """File a reveal request for a hit of the own company (four-eyes: someone else approves)."""
    hit = _own_hit(conn, hit_id, who)
    company = who.own_company()
    policy = store.policy_for(conn, hit.policy_id)
    ref = _ref(policy, hit.policy_id, hit.policy_digest)
    objects = {"hit": str(hit.id), "company": hit.other(company)}
    bad_text = _free_text_problem(who, now, purpose=purpose, case_reference=case_reference)
    if bad_text is not None:
        detail = (
            f"The {bad_text.replace('_', ' ')} looks like it contains personal data (an "
            "identity number or e-mail address); the audit log must not hold any. Use the "
            "case system's reference and a purpose without personal data."
        )
        audit.append(
            conn,
            actor=_audit_actor(who),
            action=AuditAction.REVEAL_REQUEST,
            outcome=Outcome("denied", "personal_data_in_text"),
            now=now,
            object_ids=objects,
            policy=ref,
        )
        return Refused(
            422, "personal-data-in-request", "Personal data in the request", detail, bad_text
        )
    decision = decisions.evaluate_reveal_request(
        policy,
        rule_id=hit.rule_id,
        requester_role=who.role,
        requester_company=company,
        hit_companies=hit.companies,
        requested_fields=fields,
        justification=justification,
        case_reference=case_reference,
        now=now,
    )
    if isinstance(decision, Denied) or policy is None:
        assert isinstance(decision, Denied)
        audit.append(
            conn,
            actor=_audit_actor(who),
            action=AuditAction.REVEAL_REQUEST,
            outcome=Outcome("denied", decision.code),
            now=now,
            object_ids=objects,
            policy=ref,
            purpose=purpose,
            case_reference=case_reference,
            fields=tuple(fields or ()),
        )
        return _refusal(decision)
    request = store.insert_request(
        conn,
        store.NewRequest(
            hit=hit,
            requester_id=who.user_id,
            requester_company=company,
            fields=decision.fields,
            purpose=purpose,
            case_reference=case_reference,
            justification=justification,
            policy_id=policy.id,
            policy_digest=policy.digest,
            created_at=now,
            expires_at=now + policy.reveal.request_ttl,
        ),
    )
    audit.append(
        conn,
        actor=_audit_actor(who),
        action=AuditAction.REVEAL_REQUEST,
        outcome=Outcome("allowed"),
        now=now,
        object_ids=objects,
        policy=ref,
        purpose=request.purpose,
        case_reference=request.case_reference,
        fields=request.fields,
        request_id=request.id,
    )
    return request


def visible_requests(
    conn: Connection, who: Principal, status: str | None, now: datetime
) -> list[store.StoredRequest]:
    """The caller's own requests and those the policy lets them decide, oldest first."""
    company = who.own_company()
    candidates = {r.id: r for r in store.requests_of_requester(conn, who.user_id, None)}
    policies: dict[str, Policy | None] = {}
    for request in store.requests_of_companies(conn, company, None):
        if request.policy_id not in policies:
            policies[request.policy_id] = store.policy_for(conn, request.policy_id)
        if may_decide(policies[request.policy_id], request, who):
            candidates[request.id] = request
    expire(conn, now, list(candidates))
    items = [store.get_request(conn, request_id) for request_id in candidates]
    shown = [r for r in items if r is not None and (status is None or r.status == status)]
    shown.sort(key=lambda r: (r.created_at, r.id))
    audit.append(
        conn,
        actor=_audit_actor(who),
        action=AuditAction.REVEAL_LIST,
        outcome=Outcome("allowed"),
        now=now,
        object_ids={"company": company, "count": str(len(shown))},
    )
    return shown


def read_request(
    conn: Connection, who: Principal, request_id: str, now: datetime
) -> store.StoredRequest:
    """One request, to its requester or a worker of a company in its hit."""
    _visible(conn, request_id, who)
    expire(conn, now, [request_id])
    request = store.get_request(conn, request_id)
    assert request is not None
    audit.append(
        conn,
        actor=_audit_actor(who),
        action=AuditAction.REVEAL_READ,
        outcome=Outcome("allowed"),
        now=now,
        object_ids={"hit": str(request.hit_id), "company": request.other(who.company_id)},
        policy=PolicyRef(request.policy_id, request.policy_digest),
        request_id=request.id,
    )
    return request


def decide(
    conn: Connection,
    who: Principal,
    request_id: str,
    decision_kind: Literal["approve", "deny"],
    reason: str,
    now: datetime,
) -> store.StoredRequest | Refused:
    """Approve or deny a pending request (not your own; once; from the policy's side)."""
    store.lock_request(conn, request_id)
    request = _visible(conn, request_id, who)
    expire(conn, now, [request_id])
    current = store.get_request(conn, request_id)
    assert current is not None
    request = current
    policy = store.policy_for(conn, request.policy_id)
    action = f"reveal.{decision_kind}"
    prior = store.decisions_for(conn, request.id)
    verdict: Allowed | Denied
    if request.status == "expired":
        verdict = Denied(
            "request_expired", "The request expired before it was decided; file a new request."
        )
    elif request.status != "pending":
        verdict = Denied("request_not_pending", f"The request is {request.status} already.")
    elif any(d.approver_id == who.user_id and d.binding == request.binding for d in prior):
        # The policy counts approvals only; a denial is a decision too, and each person decides
        # once on a version of a request.
        verdict = Denied("already_approved", "This person has already decided on this request.")
    else:
        verdict = decisions.evaluate_approval(
            policy,
            request=request.for_policy(),
            approver=_policy_actor(who),
            prior_approvals=[d.as_approval() for d in prior if d.decision == "approve"],
            now=now,
        )
    entry: dict[str, Any] = {
        "actor": _audit_actor(who),
        "action": action,
        "now": now,
        "object_ids": {"hit": str(request.hit_id), "company": request.requester_company},
        "policy": _ref(policy, request.policy_id, request.policy_digest),
        "purpose": request.purpose,
        "case_reference": request.case_reference,
        "fields": request.fields,
        "request_id": request.id,
    }
    if isinstance(verdict, Denied) or policy is None:
        assert isinstance(verdict, Denied)
        audit.append(conn, outcome=Outcome("denied", verdict.code), **entry)
        return _refusal(verdict)
    # The approver's reason goes into the decision's entry (docs/approver.md says so), which
    # leaves the company: refused cleanly if it looks like personal data.
    if _free_text_problem(who, now, reason=reason) is not None:
        audit.append(conn, outcome=Outcome("denied", "personal_data_in_text"), **entry)
        return Refused(
            422,
            "personal-data-in-decision",
            "Personal data in the reason",
            "The reason looks like it contains personal data (an identity number or e-mail "
            "address); the audit log must not hold any. Give the reason without it.",
            "personal_data",
        )
    store.add_decision(
        conn,
        store.Decision(
            request_id=request.id,
            approver_id=who.user_id,
            approver_role=who.role,
            approver_company=who.company_id,
            decision=decision_kind,
            reason=reason,
            binding=request.binding,
            decided_at=now,
        ),
    )
    if decision_kind == "deny":
        store.complete_request(conn, request.id, "denied", now)
    else:
        # Complete once the approvals that count reach the policy's number: the same test the
        # disclosure applies, so "approved" never shows for a request that can not be read.
        counted = decisions.evaluate_disclosure(
            policy,
            request=request.for_policy(),
            approvals=[
                d.as_approval()
                for d in store.decisions_for(conn, request.id)
                if d.decision == "approve"
            ],
            reader=decisions.Actor(
                str(request.requester_id), "investigator", request.requester_company
            ),
            now=now,
        )
        if isinstance(counted, Allowed):
            store.complete_request(
                conn, request.id, "approved", now, now + policy.reveal.disclosure_ttl
            )
    audit.append(conn, outcome=Outcome("allowed", reason), **entry)
    updated = store.get_request(conn, request.id)
    assert updated is not None
    return updated


# --- disclosure ------------------------------------------------------------------------------


def read_disclosure(
    conn: Connection,
    who: Principal,
    request_id: str,
    *,
    blobs: BlobStore,
    reveal_private_key_path: Path,
    now: datetime,
) -> Disclosure | Refused:
    """Both records' allowed fields, to the requester only, while the disclosure is valid."""
    store.lock_request(conn, request_id)
    _visible(conn, request_id, who)
    expire(conn, now, [request_id])
    request = store.get_request(conn, request_id)
    assert request is not None
    policy = store.policy_for(conn, request.policy_id)
    ref = _ref(policy, request.policy_id, request.policy_digest)
    entry: dict[str, Any] = {
        "actor": _audit_actor(who),
        "action": "disclosure.read",
        "now": now,
        "object_ids": {"hit": str(request.hit_id), "company": request.other(who.company_id)},
        "policy": ref,
        "purpose": request.purpose,
        "case_reference": request.case_reference,
        "request_id": request.id,
    }
    verdict: Allowed | Denied
    if request.requester_id != who.user_id:
        verdict = Denied("not_requester", "Only the person who requested the reveal may read it.")
    elif request.status in ("denied", "expired", "pending"):
        verdict = Denied(
            "not_approved", f"The request is {request.status}; nothing may be revealed."
        )
    else:
        approvals = [
            d.as_approval()
            for d in store.decisions_for(conn, request.id)
            if d.decision == "approve"
        ]
        verdict = decisions.evaluate_disclosure(
            policy,
            request=request.for_policy(),
            approvals=approvals,
            reader=_policy_actor(who),
            now=now,
        )
    if isinstance(verdict, Denied):
        audit.append(conn, outcome=Outcome("denied", verdict.code), **entry)
        return _refusal(verdict)
    hit = store.hit_sides(conn, request.hit_id)
    if hit is None:  # retention removed the hit; requests go with it, so this is a race
        raise NotFound(f"no reveal request {request_id}")
    own_first = sorted(
        [
            (hit.company_a, hit.ref_a, hit.extract_a),
            (hit.company_b, hit.ref_b, hit.extract_b),
        ],
        key=lambda side: side[0] != request.requester_company,
    )
    sources = []
    for company, record_ref, extract_id in own_first:
        key = store.extract_key(conn, extract_id)
        assert key is not None  # hits reference extracts by foreign key
        sources.append(
            RecordSource(
                company_id=company,
                extract_id=extract_id,
                ref=record_ref,
                blob_path=blobs.path_for(key.blob_key),
                wrapped_data_key=key.wrapped_data_key,
            )
        )
    try:
        records = disclose(sources, verdict.fields, reveal_private_key_path)
    except (DisclosureUnavailable, SealedDataUnreadable) as exc:
        audit.append(conn, outcome=Outcome("denied", exc.slug), fields=verdict.fields, **entry)
        return Refused(exc.status, exc.slug, exc.title, str(exc))
    audit.append(conn, outcome=Outcome("allowed"), fields=verdict.fields, **entry)
    store.record_read(conn, request.id, who.user_id, verdict.fields, now)
    return Disclosure(
        request=request,
        policy=ref,
        fields=verdict.fields,
        records=records,
        notice=LEAD_NOT_VERDICT,
    )


# --- outcomes --------------------------------------------------------------------------------


def record_outcome(
    conn: Connection,
    who: Principal,
    hit_id: int,
    *,
    outcome: str,
    reason: str | None,
    note: str,
    now: datetime,
) -> store.HitOutcome:
    """Record how the own company's investigation of a hit ended (the caller validated the
    outcome and its reason). A hit is a lead, not a verdict: the outcome records what the
    investigation found, the hit itself proves nothing."""
    hit = _own_hit(conn, hit_id, who)
    company = who.own_company()
    assert outcome in OUTCOMES
    recorded = store.add_outcome(
        conn,
        hit_id=hit.id,
        company_id=company,
        outcome=outcome,
        reason=reason,
        note=note,
        recorded_by=who.user_id,
        now=now,
    )
    objects = {"hit": str(hit.id), "company": hit.other(company), "outcome": outcome}
    if reason is not None:
        objects["outcome_reason"] = reason
    audit.append(
        conn,
        actor=_audit_actor(who),
        action=AuditAction.HIT_OUTCOME,
        outcome=Outcome("allowed"),
        now=now,
        object_ids=objects,
        policy=PolicyRef(hit.policy_id, hit.policy_digest),
    )
    return recorded
