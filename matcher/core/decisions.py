"""Pure reveal and run decisions under a legal-basis policy: the four-eyes rules.

The ``evaluate_*`` functions decide, they do not act (the actions do): each returns
:class:`Allowed` with the field set or :class:`Denied` with a machine reason code and one human
sentence without personal data. No policy (``None``), a draft or retired policy, a policy
outside its validity dates, and an empty field set all deny. The clock comes in as ``now``.
The policy itself (its model, parsing and validation) is :mod:`matcher.core.policy`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

# One Actor for decisions and the log: the person a decision is about is the one its entry names.
from matcher.core.audit.entry import Actor
from matcher.core.policy import Policy

__all__ = [
    "Actor",
    "Allowed",
    "Approval",
    "Decision",
    "Denied",
    "ReasonCode",
    "RevealRequest",
    "evaluate_approval",
    "evaluate_disclosure",
    "evaluate_reveal_request",
    "evaluate_run",
    "request_binding",
]

ReasonCode = Literal[
    "no_policy",
    "policy_not_active",
    "policy_retired",
    "policy_not_yet_valid",
    "policy_expired",
    "policy_mismatch",
    "company_not_participant",
    "not_party_to_hit",
    "role_may_not_request",
    "role_may_not_approve",
    "unknown_rule",
    "no_fields",
    "fields_not_allowed",
    "justification_too_short",
    "case_reference_missing",
    "case_reference_invalid",
    "self_approval",
    "already_approved",
    "wrong_side",
    "request_not_pending",
    "request_expired",
    "not_approved",
    "not_requester",
    "disclosure_expired",
]


@dataclass(frozen=True)
class Allowed:
    """The action may go ahead; ``fields`` are the only fields it may touch."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class Denied:
    """The action is refused. ``code`` is for the audit log and API; ``reason`` is one sentence
    for people, without personal data (it may name roles, fields and the policy)."""

    code: ReasonCode
    reason: str


Decision = Allowed | Denied


@dataclass(frozen=True)
class RevealRequest:
    """A reveal request as stored: what approvals are bound to and disclosures are read under."""

    hit_id: str
    rule_id: str
    hit_companies: tuple[str, str]
    requester_id: str
    requester_company: str
    fields: tuple[str, ...]
    purpose: str
    policy_digest: str
    created_at: datetime


@dataclass(frozen=True)
class Approval:
    """One approval as stored. ``binding`` is :func:`request_binding` of the request as it was
    approved; an approval of another binding does not count for a changed request."""

    approver_id: str
    approver_role: str
    approver_company: str | None
    binding: str
    approved_at: datetime


def request_binding(request: RevealRequest) -> str:
    """Digest of what an approval approves: hit, rule, field set, purpose and policy digest."""
    canonical = json.dumps(
        {
            "hit": request.hit_id,
            "rule": request.rule_id,
            "fields": sorted(request.fields),
            "purpose": request.purpose,
            "policy": request.policy_digest,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def evaluate_run(policy: Policy | None, *, run_date: date) -> Decision:
    """Whether a matching run may use ``policy`` on ``run_date``: active and valid that day."""
    denied = _unusable(policy, run_date)
    return denied if denied else Allowed(fields=())


def evaluate_reveal_request(
    policy: Policy | None,
    *,
    rule_id: str,
    requester_role: str,
    requester_company: str,
    hit_companies: Collection[str],
    requested_fields: Sequence[str] | None,
    justification: str,
    case_reference: str,
    now: datetime,
) -> Decision:
    """Whether a reveal request may be filed; Allowed carries the fields it asks for.

    ``requested_fields=None`` asks for every field the hit's rule may reveal.
    """
    denied = _unusable(policy, _day(now))
    if denied or policy is None:
        return denied or _NO_POLICY
    if not policy.includes(requester_company):
        return Denied(
            "company_not_participant",
            "The requester's company does not take part in this policy.",
        )
    if requester_company not in hit_companies:
        return Denied(
            "not_party_to_hit", "Only an investigator of a company in the hit may request."
        )
    if requester_role not in policy.reveal.requesters:
        return Denied(
            "role_may_not_request",
            f"The role {requester_role!r} may not request reveals under this policy; "
            f"allowed: {', '.join(sorted(policy.reveal.requesters))}.",
        )
    fields = _rule_fields(policy, rule_id, requested_fields)
    if isinstance(fields, Denied):
        return fields
    minimum = policy.reveal.min_justification_chars
    if len(justification.strip()) < minimum:
        return Denied(
            "justification_too_short",
            f"The justification must be at least {minimum} characters; explain why the "
            "investigation needs these fields.",
        )
    if not case_reference.strip():
        return Denied("case_reference_missing", "A reveal request needs a case reference.")
    pattern = policy.reveal.case_reference_pattern
    if pattern is not None and re.fullmatch(pattern, case_reference.strip()) is None:
        # The reference itself is not echoed: it may have been typed with personal data in it.
        return Denied(
            "case_reference_invalid",
            "The case reference does not have the form this policy requires.",
        )
    return Allowed(fields=fields)


def evaluate_approval(
    policy: Policy | None,
    *,
    request: RevealRequest,
    approver: Actor,
    prior_approvals: Sequence[Approval],
    now: datetime,
) -> Decision:
    """Whether ``approver`` may approve ``request`` now; Allowed carries the request's fields.

    Enforced: an approver role of the policy, never the requester, each person once, the side
    the policy names, only while the request is pending and within ``request_ttl_hours``.
    """
    denied = _request_usable(policy, request, _day(now))
    if denied or policy is None:
        return denied or _NO_POLICY
    reveal = policy.reveal
    if approver.role not in reveal.approvers:
        return Denied(
            "role_may_not_approve",
            f"The role {approver.role!r} may not approve reveals under this policy; "
            f"allowed: {', '.join(sorted(reveal.approvers))}.",
        )
    if approver.id == request.requester_id:
        return Denied("self_approval", "Nobody may approve their own reveal request.")
    counted = _valid_approvals(policy, request, prior_approvals)
    binding = request_binding(request)
    # Approvals of an earlier version of the request do not count, so their authors may decide
    # again on the changed one.
    if any(a.approver_id == approver.id and a.binding == binding for a in prior_approvals):
        return Denied("already_approved", "This person has already decided on this request.")
    side = _side_problem(policy, request, approver.company)
    if side:
        return side
    if len(counted) >= reveal.approvals_required:
        return Denied("request_not_pending", "The request already has all its approvals.")
    if now > request.created_at + reveal.request_ttl:
        return Denied(
            "request_expired",
            f"The request expired {reveal.request_ttl_hours} hours after it was filed; "
            "file a new request.",
        )
    return Allowed(fields=request.fields)


def evaluate_disclosure(
    policy: Policy | None,
    *,
    request: RevealRequest,
    approvals: Sequence[Approval],
    reader: Actor,
    now: datetime,
) -> Decision:
    """Whether ``reader`` may read the disclosure of ``request`` now.

    Only the requester, only once enough valid approvals bound to this exact request exist, and
    only within ``disclosure_ttl_hours`` of the approval that completed them. Approvals are
    re-checked here rather than trusted, so a stored approval that breaks a rule never counts.
    """
    denied = _request_usable(policy, request, _day(now))
    if denied or policy is None:
        return denied or _NO_POLICY
    if reader.id != request.requester_id:
        return Denied("not_requester", "Only the person who requested the reveal may read it.")
    counted = _valid_approvals(policy, request, approvals)
    required = policy.reveal.approvals_required
    if len(counted) < required:
        return Denied(
            "not_approved",
            f"The request has {len(counted)} of the {required} approvals this policy requires.",
        )
    approved_at = sorted(a.approved_at for a in counted)[required - 1]
    if now > approved_at + policy.reveal.disclosure_ttl:
        return Denied(
            "disclosure_expired",
            f"The disclosure expired {policy.reveal.disclosure_ttl_hours} hours after approval; "
            "file a new request if the case still needs it.",
        )
    fields = _rule_fields(policy, request.rule_id, request.fields)
    return fields if isinstance(fields, Denied) else Allowed(fields=fields)


_NO_POLICY: Final = Denied("no_policy", "There is no policy, so nothing may be revealed.")


def _day(now: datetime) -> date:
    if now.tzinfo is None:
        # A naive time compared with stored aware times would be off by the UTC offset.
        raise ValueError("now must be a timezone-aware datetime")
    return now.date()


def _unusable(policy: Policy | None, day: date) -> Denied | None:
    if policy is None:
        return _NO_POLICY
    if policy.status == "retired":
        return Denied("policy_retired", f"The policy {policy.id!r} is retired.")
    if policy.status != "active":
        return Denied("policy_not_active", f"The policy {policy.id!r} is a draft, not active.")
    if day < policy.valid_from:
        return Denied(
            "policy_not_yet_valid", f"The policy {policy.id!r} is valid from {policy.valid_from}."
        )
    if day > policy.valid_until:
        return Denied(
            "policy_expired", f"The policy {policy.id!r} was valid until {policy.valid_until}."
        )
    return None


def _request_usable(policy: Policy | None, request: RevealRequest, day: date) -> Denied | None:
    denied = _unusable(policy, day)
    if denied or policy is None:
        return denied or _NO_POLICY
    if request.policy_digest != policy.digest:
        return Denied(
            "policy_mismatch",
            "The request was filed under another version of the policy; file a new request.",
        )
    fields = _rule_fields(policy, request.rule_id, request.fields)
    return fields if isinstance(fields, Denied) else None


def _rule_fields(
    policy: Policy, rule_id: str, requested: Sequence[str] | None
) -> tuple[str, ...] | Denied:
    rule = next((r for r in policy.rules.rules if r.id == rule_id), None)
    if rule is None:
        return Denied("unknown_rule", f"The policy has no rule {rule_id!r}.")
    wanted = rule.reveal_fields if requested is None else tuple(requested)
    outside = sorted(set(wanted) - set(rule.reveal_fields))
    if outside:
        return Denied(
            "fields_not_allowed",
            f"The rule {rule_id!r} may not reveal {', '.join(outside)}.",
        )
    if not wanted:
        # An empty field set denies: a reveal of nothing is a mistake, not a permission.
        return Denied("no_fields", f"No fields to reveal under the rule {rule_id!r}.")
    # In the rule's order, without duplicates, so equal requests give equal field lists.
    return tuple(f for f in rule.reveal_fields if f in set(wanted))


def _side_problem(policy: Policy, request: RevealRequest, company: str | None) -> Denied | None:
    side = policy.reveal.approval_side
    if side == "own":
        ok = company == request.requester_company
        expected = "the requester's own company"
    elif side == "counterpart":
        ok = company in request.hit_companies and company != request.requester_company
        expected = "the other company of the hit"
    else:
        ok = company in request.hit_companies
        expected = "a company of the hit"
    if company is None or not ok or not policy.includes(company):
        return Denied("wrong_side", f"Under this policy the approver must work at {expected}.")
    return None


def _valid_approvals(
    policy: Policy, request: RevealRequest, approvals: Sequence[Approval]
) -> list[Approval]:
    """The approvals that count: bound to this request, by a distinct approver who is not the
    requester, in an approver role, from the right side, given before the request expired."""
    binding = request_binding(request)
    deadline = request.created_at + policy.reveal.request_ttl
    counted: dict[str, Approval] = {}
    for a in sorted(approvals, key=lambda a: a.approved_at):
        if (
            a.binding == binding
            and a.approver_id != request.requester_id
            and a.approver_id not in counted
            and a.approver_role in policy.reveal.approvers
            and _side_problem(policy, request, a.approver_company) is None
            and request.created_at <= a.approved_at <= deadline
        ):
            counted[a.approver_id] = a
    return list(counted.values())
