"""Reveal workflow API (four-eyes), hit outcomes and the subject access report.

    POST /v1/hits/{id}/reveal-requests            investigator of a company in the hit
    GET  /v1/reveal-requests?status=              own requests; approvers: those they may decide
    GET  /v1/reveal-requests/{id}                 requester, or a worker of a company in the hit
    POST /v1/reveal-requests/{id}/approve|deny    approver (policy: side, once, never own)
    GET  /v1/reveal-requests/{id}/disclosure      the requester only, approved, within the TTL
    POST /v1/hits/{id}/outcome                    investigator of a company in the hit
    GET  /v1/subject-report?token=HEX             admin: what the matcher holds about one person

The policy decides (:mod:`matcher.core.policy`), this module acts and writes every decision to
the audit log in the request's own transaction. A refusal by the policy is *returned* as a 403
problem response, not raised, so the transaction commits: its audit entry must survive even
though the action did not happen. Pending requests past their deadline are expired (and the
expiry logged) whenever they are read. The router's lifespan runs retention
(:func:`matcher.purge.run_purge`) periodically while the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, FastAPI, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection

from matcher.contract import REF_COLUMN, token_column
from matcher.core import policy as core_policy
from matcher.core.audit import (
    Actor,
    AuditEntry,
    InvalidAuditEntry,
    Outcome,
    PolicyRef,
    format_time,
)
from matcher.core.policy import Allowed, Denied, Policy
from matcher.crypto import SealedDataUnreadable
from matcher.disclosure import LEAD_NOT_VERDICT, DisclosureUnavailable, RecordSource, disclose
from matcher.errors import InvalidInput, MatcherError, NotFound
from matcher.purge import run_purge
from matcher.service.deps import AppState, Principal, app_state, connection, require
from matcher.service.problems import problem_response
from matcher.store import audit
from matcher.store import reveal as store
from matcher.store.audit import system_actor
from matcher.store.database import utc, utcnow
from matcher.store.extracts import active_extracts
from matcher.store.tables import OUTCOME_REASONS, OUTCOMES, REVEAL_REQUEST_STATUSES

__all__ = ["clock", "router"]

_log = logging.getLogger("matcher.service.reveal")


def clock() -> datetime:
    """The time every decision is taken at; tests override this dependency."""
    return utcnow()


@contextlib.asynccontextmanager
async def _periodic_purge(app: FastAPI) -> AsyncIterator[None]:
    """Apply retention every ``purge_interval_seconds`` (settings; default an hour)."""
    state = app.state.matcher
    assert isinstance(state, AppState)
    interval = state.settings.purge_interval_seconds

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(
                    run_purge, state.engine, state.blobs, utcnow(), system_actor()
                )
            except Exception:  # keep serving; the next round tries again
                _log.exception("periodic purge failed")

    task = asyncio.create_task(loop()) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


router = APIRouter(prefix="/v1", tags=["reveal"], lifespan=_periodic_purge)

Worker = Annotated[Principal, Depends(require("investigator", "approver"))]
Investigator = Annotated[Principal, Depends(require("investigator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Conn = Annotated[Connection, Depends(connection)]
State = Annotated[AppState, Depends(app_state)]
Now = Annotated[datetime, Depends(clock)]


# --- wire models -----------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevealRequestIn(_In):
    purpose: str = Field(min_length=1, max_length=500)
    case_reference: str = Field(min_length=1, max_length=200)
    justification: str = Field(max_length=5000)
    fields: list[str] | None = Field(
        default=None, description="a subset of the rule's reveal fields; omit for all of them"
    )


class DecisionIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class OutcomeIn(_In):
    outcome: Literal["no_issue_explained", "data_error", "confirmed_breach", "referred"]
    reason: (
        Literal["notice_period_move", "approved_sublet", "co_tenant", "data_delay", "other"] | None
    ) = None
    note: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _reason_with_explained(self) -> OutcomeIn:
        if self.outcome == "no_issue_explained" and self.reason is None:
            raise ValueError("no_issue_explained needs a reason: " + ", ".join(OUTCOME_REASONS))
        if self.outcome != "no_issue_explained" and self.reason is not None:
            raise ValueError("a reason goes only with no_issue_explained")
        return self


class DecisionOut(BaseModel):
    """An approver's decision: company, not name (the requester needs the fact, not the person)."""

    company: str | None
    decision: str
    reason: str
    decided_at: datetime


class RevealRequestOut(BaseModel):
    id: str
    hit_id: int
    rule: str
    status: str
    fields: list[str]
    purpose: str
    case_reference: str
    justification: str
    requester_company: str
    counterpart_company: str
    mine: bool
    policy_id: str
    policy_digest: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    disclosure_until: datetime | None
    decisions: list[DecisionOut]


class RevealRequestList(BaseModel):
    items: list[RevealRequestOut]


class DisclosedRecordOut(BaseModel):
    company: str
    own: bool
    values: dict[str, str | None]


class DisclosureOut(BaseModel):
    request_id: str
    hit_id: int
    rule: str
    policy_id: str
    policy_digest: str
    fields: list[str]
    records: list[DisclosedRecordOut]
    valid_until: datetime | None
    notice: str


class OutcomeOut(BaseModel):
    hit_id: int
    company: str
    outcome: str
    reason: str | None
    note: str
    recorded_at: datetime


class SubjectRequestOut(BaseModel):
    id: str
    status: str
    requester_company: str
    purpose: str
    case_reference: str
    fields: list[str]
    created_at: datetime
    decided_at: datetime | None
    decisions: list[DecisionOut]
    disclosures_read_at: list[datetime]


class SubjectOutcomeOut(BaseModel):
    company: str
    outcome: str
    reason: str | None
    recorded_at: datetime


class SubjectHitOut(BaseModel):
    id: int
    rule: str
    companies: list[str]
    policy_id: str
    first_seen: datetime
    last_seen: datetime
    requests: list[SubjectRequestOut]
    outcomes: list[SubjectOutcomeOut]


class SubjectReportOut(BaseModel):
    """What the matcher holds about one token. No investigator or approver names (CJEU
    C-579/21: the data subject is told what was done and why, not by which employee)."""

    companies_holding_records: list[str]
    hits: list[SubjectHitOut]


# --- helpers ---------------------------------------------------------------------------------


def _audit_actor(principal: Principal) -> Actor:
    return Actor(str(principal.user_id), principal.role, principal.company_id)


def _policy_actor(principal: Principal) -> core_policy.Actor:
    return core_policy.Actor(str(principal.user_id), principal.role, principal.company_id)


def _ref(policy: Policy | None, fallback_id: str, fallback_digest: str) -> PolicyRef:
    if policy is None:
        return PolicyRef(fallback_id, fallback_digest)
    return PolicyRef(policy.id, policy.digest)


def _refusal(denied: Denied) -> Response:
    return problem_response(
        403, "reveal-denied", "Refused by the policy", denied.reason, {"code": denied.code}
    )


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


def _expire(conn: Connection, now: datetime, request_ids: Sequence[str] | None) -> None:
    """Expire due pending requests (all, or just these) and log each expiry."""
    for expired in store.expire_due(conn, now, request_ids):
        audit.append(
            conn,
            actor=system_actor(),
            action="reveal.expire",
            outcome=Outcome("allowed", "request_expired"),
            now=now,
            object_ids={"hit": str(expired.hit_id), "company": expired.requester_company},
            policy=PolicyRef(expired.policy_id, expired.policy_digest),
            fields=expired.fields,
            request_id=expired.id,
        )


def _out(request: store.StoredRequest, principal: Principal, conn: Connection) -> RevealRequestOut:
    return RevealRequestOut(
        id=request.id,
        hit_id=request.hit_id,
        rule=request.rule_id,
        status=request.status,
        fields=list(request.fields),
        purpose=request.purpose,
        case_reference=request.case_reference,
        justification=request.justification,
        requester_company=request.requester_company,
        counterpart_company=request.other(request.requester_company),
        mine=request.requester_id == principal.user_id,
        policy_id=request.policy_id,
        policy_digest=request.policy_digest,
        created_at=request.created_at,
        expires_at=request.expires_at,
        decided_at=request.decided_at,
        disclosure_until=request.disclosure_until,
        decisions=[
            DecisionOut(
                company=d.approver_company,
                decision=d.decision,
                reason=d.reason,
                decided_at=d.decided_at,
            )
            for d in store.decisions_for(conn, request.id)
        ],
    )


def _may_decide(policy: Policy | None, request: store.StoredRequest, who: Principal) -> bool:
    """Whether ``who`` is someone the policy lets decide on ``request`` (for listing only; the
    decision itself is evaluated in full by :func:`core_policy.evaluate_approval`)."""
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


# --- requests --------------------------------------------------------------------------------


@router.post(
    "/hits/{hit_id}/reveal-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=RevealRequestOut,
)
def post_reveal_request(
    hit_id: int, body: RevealRequestIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """File a reveal request for a hit of the own company (four-eyes: someone else approves)."""
    company = who.own_company()
    hit = store.hit_sides(conn, hit_id)
    if hit is None or company not in hit.companies:
        raise NotFound(f"no hit {hit_id}")
    policy = store.policy_for(conn, hit.policy_id)
    ref = _ref(policy, hit.policy_id, hit.policy_digest)
    objects = {"hit": str(hit.id), "company": hit.other(company)}
    bad_text = _free_text_problem(
        who, now, purpose=body.purpose, case_reference=body.case_reference
    )
    if bad_text is not None:
        detail = (
            f"The {bad_text.replace('_', ' ')} looks like it contains personal data (an "
            "identity number or e-mail address); the audit log must not hold any. Use the "
            "case system's reference and a purpose without personal data."
        )
        audit.append(
            conn,
            actor=_audit_actor(who),
            action="reveal.request",
            outcome=Outcome("denied", "personal_data_in_text"),
            now=now,
            object_ids=objects,
            policy=ref,
        )
        return problem_response(
            422, "personal-data-in-request", "Personal data in the request", detail
        )
    decision = core_policy.evaluate_reveal_request(
        policy,
        rule_id=hit.rule_id,
        requester_role=who.role,
        requester_company=company,
        hit_companies=hit.companies,
        requested_fields=body.fields,
        justification=body.justification,
        case_reference=body.case_reference,
        now=now,
    )
    if isinstance(decision, Denied) or policy is None:
        assert isinstance(decision, Denied)
        audit.append(
            conn,
            actor=_audit_actor(who),
            action="reveal.request",
            outcome=Outcome("denied", decision.code),
            now=now,
            object_ids=objects,
            policy=ref,
            purpose=body.purpose,
            case_reference=body.case_reference,
            fields=tuple(body.fields or ()),
        )
        return _refusal(decision)
    request = store.insert_request(
        conn,
        store.NewRequest(
            hit=hit,
            requester_id=who.user_id,
            requester_company=company,
            fields=decision.fields,
            purpose=body.purpose,
            case_reference=body.case_reference,
            justification=body.justification,
            policy_id=policy.id,
            policy_digest=policy.digest,
            created_at=now,
            expires_at=now + policy.reveal.request_ttl,
        ),
    )
    audit.append(
        conn,
        actor=_audit_actor(who),
        action="reveal.request",
        outcome=Outcome("allowed"),
        now=now,
        object_ids=objects,
        policy=ref,
        purpose=request.purpose,
        case_reference=request.case_reference,
        fields=request.fields,
        request_id=request.id,
    )
    return _out(request, who, conn)


@router.get("/reveal-requests")
def list_reveal_requests(
    who: Worker,
    conn: Conn,
    now: Now,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> RevealRequestList:
    """The caller's own requests; for approvers also the requests they may decide."""
    if status is not None and status not in REVEAL_REQUEST_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(REVEAL_REQUEST_STATUSES)}")
    company = who.own_company()
    candidates = {r.id: r for r in store.requests_of_requester(conn, who.user_id, None)}
    policies: dict[str, Policy | None] = {}
    for request in store.requests_of_companies(conn, company, None):
        if request.policy_id not in policies:
            policies[request.policy_id] = store.policy_for(conn, request.policy_id)
        if _may_decide(policies[request.policy_id], request, who):
            candidates[request.id] = request
    _expire(conn, now, list(candidates))
    items = [store.get_request(conn, request_id) for request_id in candidates]
    shown = [r for r in items if r is not None and (status is None or r.status == status)]
    shown.sort(key=lambda r: (r.created_at, r.id))
    audit.append(
        conn,
        actor=_audit_actor(who),
        action="reveal.list",
        outcome=Outcome("allowed"),
        now=now,
        object_ids={"company": company, "count": str(len(shown))},
    )
    return RevealRequestList(items=[_out(r, who, conn) for r in shown])


@router.get("/reveal-requests/{request_id}")
def get_reveal_request(request_id: str, who: Worker, conn: Conn, now: Now) -> RevealRequestOut:
    _visible(conn, request_id, who)
    _expire(conn, now, [request_id])
    request = store.get_request(conn, request_id)
    assert request is not None
    audit.append(
        conn,
        actor=_audit_actor(who),
        action="reveal.read",
        outcome=Outcome("allowed"),
        now=now,
        object_ids={"hit": str(request.hit_id), "company": request.other(who.company_id)},
        policy=PolicyRef(request.policy_id, request.policy_digest),
        request_id=request.id,
    )
    return _out(request, who, conn)


def _decide(
    request_id: str,
    decision_kind: Literal["approve", "deny"],
    reason: str,
    who: Principal,
    conn: Connection,
    now: datetime,
) -> RevealRequestOut | Response:
    store.lock_request(conn, request_id)
    request = _visible(conn, request_id, who)
    _expire(conn, now, [request_id])
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
        verdict = core_policy.evaluate_approval(
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
        counted = core_policy.evaluate_disclosure(
            policy,
            request=request.for_policy(),
            approvals=[
                d.as_approval()
                for d in store.decisions_for(conn, request.id)
                if d.decision == "approve"
            ],
            reader=core_policy.Actor(
                str(request.requester_id), "investigator", request.requester_company
            ),
            now=now,
        )
        if isinstance(counted, Allowed):
            store.complete_request(
                conn, request.id, "approved", now, now + policy.reveal.disclosure_ttl
            )
    audit.append(conn, outcome=Outcome("allowed"), **entry)
    updated = store.get_request(conn, request.id)
    assert updated is not None
    return _out(updated, who, conn)


@router.post("/reveal-requests/{request_id}/approve", response_model=RevealRequestOut)
def approve(
    request_id: str, body: DecisionIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """Approve a pending request (not your own; once; from the side the policy names)."""
    return _decide(request_id, "approve", body.reason, who, conn, now)


@router.post("/reveal-requests/{request_id}/deny", response_model=RevealRequestOut)
def deny(
    request_id: str, body: DecisionIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """Deny a pending request; it is closed and can not be approved any more."""
    return _decide(request_id, "deny", body.reason, who, conn, now)


# --- disclosure ------------------------------------------------------------------------------


@router.get("/reveal-requests/{request_id}/disclosure", response_model=DisclosureOut)
def get_disclosure(
    request_id: str, who: Worker, conn: Conn, state: State, now: Now
) -> DisclosureOut | Response:
    """Both records' allowed fields, to the requester only, while the disclosure is valid."""
    store.lock_request(conn, request_id)
    _visible(conn, request_id, who)
    _expire(conn, now, [request_id])
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
        verdict = core_policy.evaluate_disclosure(
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
                blob_path=state.blobs.path_for(key.blob_key),
                wrapped_data_key=key.wrapped_data_key,
            )
        )
    try:
        records = disclose(sources, verdict.fields, state.settings.reveal_private_key_path)
    except (DisclosureUnavailable, SealedDataUnreadable) as exc:
        audit.append(conn, outcome=Outcome("denied", exc.slug), fields=verdict.fields, **entry)
        return _problem(exc)
    audit.append(conn, outcome=Outcome("allowed"), fields=verdict.fields, **entry)
    store.record_read(conn, request.id, who.user_id, verdict.fields, now)
    return DisclosureOut(
        request_id=request.id,
        hit_id=request.hit_id,
        rule=request.rule_id,
        policy_id=ref.id,
        policy_digest=ref.digest,
        fields=list(verdict.fields),
        records=[
            DisclosedRecordOut(
                company=r.company_id,
                own=r.company_id == request.requester_company,
                values=dict(r.values),
            )
            for r in records
        ],
        valid_until=request.disclosure_until,
        notice=LEAD_NOT_VERDICT,
    )


def _problem(exc: MatcherError) -> Response:
    return problem_response(exc.status, exc.slug, exc.title, str(exc))


# --- outcomes --------------------------------------------------------------------------------


@router.post(
    "/hits/{hit_id}/outcome", status_code=status.HTTP_201_CREATED, response_model=OutcomeOut
)
def post_outcome(
    hit_id: int, body: OutcomeIn, who: Investigator, conn: Conn, now: Now
) -> OutcomeOut:
    """Record how the own company's investigation of a hit ended. A hit is a lead, not a
    verdict: the outcome records what the investigation found, the hit itself proves nothing."""
    company = who.own_company()
    hit = store.hit_sides(conn, hit_id)
    if hit is None or company not in hit.companies:
        raise NotFound(f"no hit {hit_id}")
    assert body.outcome in OUTCOMES
    recorded = store.add_outcome(
        conn,
        hit_id=hit.id,
        company_id=company,
        outcome=body.outcome,
        reason=body.reason,
        note=body.note,
        recorded_by=who.user_id,
        now=now,
    )
    objects = {"hit": str(hit.id), "company": hit.other(company), "outcome": body.outcome}
    if body.reason is not None:
        objects["outcome_reason"] = body.reason
    audit.append(
        conn,
        actor=_audit_actor(who),
        action="hit.outcome",
        outcome=Outcome("allowed"),
        now=now,
        object_ids=objects,
        policy=PolicyRef(hit.policy_id, hit.policy_digest),
    )
    return OutcomeOut(
        hit_id=recorded.hit_id,
        company=recorded.company_id,
        outcome=recorded.outcome,
        reason=recorded.reason,
        note=recorded.note,
        recorded_at=recorded.recorded_at,
    )


# --- subject access --------------------------------------------------------------------------

_TOKEN = re.compile(r"^[0-9a-f]{64}$")


@router.get("/subject-report")
def subject_report(
    who: Admin,
    conn: Conn,
    state: State,
    now: Now,
    token: Annotated[str, Query(min_length=64, max_length=64)],
) -> SubjectReportOut:
    """Everything the matcher holds about the person with this national-id token.

    The token comes from ``connector token`` at the person's housing company (the matcher can
    not compute it). The active extracts are searched for the token's refs, then hits by ref.
    """
    token = token.lower()
    if not _TOKEN.match(token):
        raise InvalidInput("token must be the 64 hex digits `connector token` prints")
    wanted = bytes.fromhex(token)
    refs: dict[str, set[str]] = {}
    for extract in active_extracts(conn):
        found = (
            pl.scan_parquet(state.blobs.path_for(extract.blob_key))
            .filter(pl.col(token_column("national_id")) == wanted)
            .select(REF_COLUMN)
            .collect()
        )
        if found.height:
            refs[extract.company_id] = set(found[REF_COLUMN].to_list())
    report = _subject_hits(conn, refs)
    audit.append(
        conn,
        actor=_audit_actor(who),
        action="subject.report",
        outcome=Outcome("allowed"),
        now=now,
        object_ids={
            "companies": str(len(refs)),
            "hits": str(len(report)),
            "requests": str(sum(len(h.requests) for h in report)),
        },
    )
    return SubjectReportOut(companies_holding_records=sorted(refs), hits=report)


def _subject_hits(conn: Connection, refs: dict[str, set[str]]) -> list[SubjectHitOut]:
    hit_rows = store.hits_by_refs(conn, refs)
    requests = store.requests_for_hits(conn, [h.id for h in hit_rows])
    out: list[SubjectHitOut] = []
    for hit in hit_rows:
        mine = [r for r in requests if r.hit_id == hit.id]
        out.append(
            SubjectHitOut(
                id=hit.id,
                rule=hit.rule_id,
                companies=[hit.company_a, hit.company_b],
                policy_id=hit.policy_id,
                first_seen=hit.first_seen,
                last_seen=hit.last_seen,
                requests=[
                    SubjectRequestOut(
                        id=r.id,
                        status=r.status,
                        requester_company=r.requester_company,
                        purpose=r.purpose,
                        case_reference=r.case_reference,
                        fields=list(r.fields),
                        created_at=r.created_at,
                        decided_at=r.decided_at,
                        decisions=[
                            DecisionOut(
                                company=d.approver_company,
                                decision=d.decision,
                                reason=d.reason,
                                decided_at=d.decided_at,
                            )
                            for d in store.decisions_for(conn, r.id)
                        ],
                        disclosures_read_at=store.disclosure_reads_for(conn, [r.id]),
                    )
                    for r in mine
                ],
                outcomes=[
                    SubjectOutcomeOut(
                        company=o.company_id,
                        outcome=o.outcome,
                        reason=o.reason,
                        recorded_at=utc(o.recorded_at),
                    )
                    for o in store.outcomes_for_hit(conn, hit.id)
                ],
            )
        )
    return out
