"""Reveal workflow API (four-eyes), hit outcomes and the subject access report.

    POST /v1/hits/{id}/reveal-requests            investigator of a company in the hit
    GET  /v1/reveal-requests?status=              own requests; approvers: those they may decide
    GET  /v1/reveal-requests/{id}                 requester, or a worker of a company in the hit
    POST /v1/reveal-requests/{id}/approve|deny    approver (policy: side, once, never own)
    GET  /v1/reveal-requests/{id}/disclosure      the requester only, approved, within the TTL
    POST /v1/hits/{id}/outcome                    investigator of a company in the hit
    GET  /v1/subject-report?token=HEX             admin: what the matcher holds about one person

The policy decides (:mod:`matcher.core.decisions`), :mod:`matcher.actions.reveal` acts (for
these routes and the web pages alike) and writes every decision to the audit log in the
request's own transaction. A refusal by the policy is *returned* as a 403
problem response, not raised, so the transaction commits: its audit entry must survive even
though the action did not happen. Pending requests past their deadline are expired (and the
expiry logged) whenever they are read. Retention (:func:`matcher.actions.purge.run_purge`)
runs periodically in the background worker (:mod:`matcher.actions.worker`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection

from matcher.actions import reveal as flow
from matcher.actions import subject
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.api.problems import problem_response
from matcher.api.routes.hits import HitId
from matcher.core import limits
from matcher.core.audit import Actor
from matcher.core.vocabulary import Role
from matcher.errors import InvalidInput
from matcher.store import reveal as store
from matcher.store.database import utc, utcnow
from matcher.store.tables import OUTCOME_REASONS, REVEAL_REQUEST_STATUSES

__all__ = ["clock", "router"]

_log = logging.getLogger("matcher.api.reveal")


def clock() -> datetime:
    """The time every decision is taken at; tests override this dependency."""
    return utcnow()


router = APIRouter(prefix="/v1", tags=["reveal"])

Worker = Annotated[Principal, Depends(require(Role.INVESTIGATOR, Role.APPROVER))]
Investigator = Annotated[Principal, Depends(require(Role.INVESTIGATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
State = Annotated[AppState, Depends(app_state)]
Now = Annotated[datetime, Depends(clock)]


# --- wire models -----------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevealRequestIn(_In):
    purpose: str = Field(min_length=1, max_length=limits.PURPOSE_CHARS)
    case_reference: str = Field(min_length=1, max_length=limits.CASE_REFERENCE_CHARS)
    justification: str = Field(max_length=limits.JUSTIFICATION_CHARS)
    fields: list[str] | None = Field(
        default=None, description="a subset of the rule's reveal fields; omit for all of them"
    )


class DecisionIn(_In):
    reason: str = Field(min_length=1, max_length=limits.DECISION_REASON_CHARS)


class OutcomeIn(_In):
    outcome: Literal["no_issue_explained", "data_error", "confirmed_breach", "referred"]
    reason: (
        Literal["notice_period_move", "approved_sublet", "co_tenant", "data_delay", "other"] | None
    ) = None
    note: str = Field(default="", max_length=limits.OUTCOME_NOTE_CHARS)

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


def _answer(refused: flow.Refused) -> Response:
    extra = {"code": refused.code} if refused.slug == "reveal-denied" else None
    return problem_response(refused.status, refused.slug, refused.title, refused.detail, extra)


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


# --- requests --------------------------------------------------------------------------------
# The actions live in :mod:`matcher.actions.reveal`, shared with the web pages.


@router.post(
    "/hits/{hit_id}/reveal-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=RevealRequestOut,
)
def post_reveal_request(
    hit_id: HitId, body: RevealRequestIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """File a reveal request for a hit of the own company (four-eyes: someone else approves)."""
    result = flow.file_request(
        conn,
        who,
        hit_id,
        purpose=body.purpose,
        case_reference=body.case_reference,
        justification=body.justification,
        fields=body.fields,
        now=now,
    )
    if isinstance(result, flow.Refused):
        return _answer(result)
    return _out(result, who, conn)


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
    shown = flow.visible_requests(conn, who, status, now)
    return RevealRequestList(items=[_out(r, who, conn) for r in shown])


@router.get("/reveal-requests/{request_id}")
def get_reveal_request(request_id: str, who: Worker, conn: Conn, now: Now) -> RevealRequestOut:
    return _out(flow.read_request(conn, who, request_id, now), who, conn)


@router.post("/reveal-requests/{request_id}/approve", response_model=RevealRequestOut)
def approve(
    request_id: str, body: DecisionIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """Approve a pending request (not your own; once; from the side the policy names)."""
    result = flow.decide(conn, who, request_id, "approve", body.reason, now)
    return _answer(result) if isinstance(result, flow.Refused) else _out(result, who, conn)


@router.post("/reveal-requests/{request_id}/deny", response_model=RevealRequestOut)
def deny(
    request_id: str, body: DecisionIn, who: Worker, conn: Conn, now: Now
) -> RevealRequestOut | Response:
    """Deny a pending request; it is closed and can not be approved any more."""
    result = flow.decide(conn, who, request_id, "deny", body.reason, now)
    return _answer(result) if isinstance(result, flow.Refused) else _out(result, who, conn)


# --- disclosure ------------------------------------------------------------------------------


@router.get("/reveal-requests/{request_id}/disclosure", response_model=DisclosureOut)
def get_disclosure(
    request_id: str, who: Worker, conn: Conn, state: State, now: Now
) -> DisclosureOut | Response:
    """Both records' allowed fields, to the requester only, while the disclosure is valid."""
    result = flow.read_disclosure(
        conn,
        who,
        request_id,
        blobs=state.blobs,
        reveal_private_key_path=state.settings.reveal_private_key_path,
        now=now,
    )
    if isinstance(result, flow.Refused):
        return _answer(result)
    request = result.request
    return DisclosureOut(
        request_id=request.id,
        hit_id=request.hit_id,
        rule=request.rule_id,
        policy_id=result.policy.id,
        policy_digest=result.policy.digest,
        fields=list(result.fields),
        records=[
            DisclosedRecordOut(
                company=r.company_id,
                own=r.company_id == request.requester_company,
                values=dict(r.values),
            )
            for r in result.records
        ],
        valid_until=request.disclosure_until,
        notice=result.notice,
    )


# --- outcomes --------------------------------------------------------------------------------


@router.post(
    "/hits/{hit_id}/outcome", status_code=status.HTTP_201_CREATED, response_model=OutcomeOut
)
def post_outcome(
    hit_id: HitId, body: OutcomeIn, who: Investigator, conn: Conn, now: Now
) -> OutcomeOut:
    """Record how the own company's investigation of a hit ended. A hit is a lead, not a
    verdict: the outcome records what the investigation found, the hit itself proves nothing."""
    recorded = flow.record_outcome(
        conn, who, hit_id, outcome=body.outcome, reason=body.reason, note=body.note, now=now
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
    found = subject.subject_report(conn, who, state.blobs, token, now)
    report = _subject_hits(conn, found)
    return SubjectReportOut(companies_holding_records=sorted(found.refs), hits=report)


def _subject_hits(conn: Connection, found: subject.SubjectFindings) -> list[SubjectHitOut]:
    hit_rows, requests = found.hits, found.requests
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
