"""The four-eyes truth table of the run, reveal, approval and disclosure decisions under the
shipped legal-basis policy and small edits of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest

from matcher.core.decisions import (
    Actor,
    Allowed,
    Approval,
    Decision,
    Denied,
    RevealRequest,
    evaluate_approval,
    evaluate_disclosure,
    evaluate_reveal_request,
    evaluate_run,
    request_binding,
)
from matcher.core.matching.rules import policy_digest
from matcher.core.policy import Policy, load_policy

SHIPPED = resources.files("policies").joinpath("concurrent-tenancy.toml").read_text("utf-8")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EXACT = "concurrent-first-hand"
FUZZY = "identity-variant"
JUSTIFICATION = "Both contracts list the same apartment period; checking for a sublet."
# Ids that must never appear in a human reason (they stand for personal data in the tests).
SECRETS = ("anna", "bertil", "cecilia", "david", "CASE-SECRET-42", JUSTIFICATION)


def _variant(*edits: tuple[str, str]) -> str:
    """The shipped policy text with each ``(old, new)`` replaced exactly once."""
    text = SHIPPED
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _policy(*edits: tuple[str, str]) -> Policy:
    return load_policy(_variant(*edits).encode("utf-8"))


def _denied(decision: Decision, code: str) -> Denied:
    assert isinstance(decision, Denied), decision
    assert decision.code == code, decision
    assert decision.reason.endswith(".")
    assert not any(secret in decision.reason for secret in SECRETS), decision.reason
    return decision


@pytest.fixture
def policy() -> Policy:
    return load_policy(SHIPPED.encode("utf-8"))


def _request(policy: Policy, **changes: object) -> RevealRequest:
    base = RevealRequest(
        hit_id="hit-1",
        rule_id=EXACT,
        hit_companies=("linbo", "norrbo"),
        requester_id="anna",
        requester_company="linbo",
        fields=("national_id", "last_name", "contract_start"),
        purpose="Investigate a possible concurrent first-hand contract.",
        policy_digest=policy.digest,
        created_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


BERTIL = Actor("bertil", "approver", "norrbo")  # counterpart company
CECILIA = Actor("cecilia", "approver", "linbo")  # requester's own company
DAVID = Actor("david", "approver", "thirdco")  # not in the hit
ANNA = Actor("anna", "investigator", "linbo")  # the requester


def _approval(request: RevealRequest, who: Actor, after: timedelta) -> Approval:
    return Approval(who.id, who.role, who.company, request_binding(request), NOW + after)


def _ask(policy: Policy | None, **changes: object) -> Decision:
    args: dict[str, object] = {
        "rule_id": EXACT,
        "requester_role": "investigator",
        "requester_company": "linbo",
        "hit_companies": ("linbo", "norrbo"),
        "requested_fields": None,
        "justification": JUSTIFICATION,
        "case_reference": "CASE-SECRET-42",
        "now": NOW,
    }
    args.update(changes)
    return evaluate_reveal_request(policy, **args)  # type: ignore[arg-type]


def test_request_without_field_list_gets_every_field_of_the_rule(policy: Policy) -> None:
    decision = _ask(policy)
    assert decision == Allowed(fields=policy.rules.rules[0].reveal_fields)


def test_requested_subset_is_returned_in_the_rules_order(policy: Policy) -> None:
    decision = _ask(policy, requested_fields=["city", "national_id", "city"])
    assert decision == Allowed(fields=("national_id", "city"))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"rule_id": FUZZY, "requested_fields": ["national_id"]}, "fields_not_allowed"),
        ({"requested_fields": ["phone"]}, "fields_not_allowed"),
        ({"requested_fields": []}, "no_fields"),
        ({"rule_id": "no-such-rule"}, "unknown_rule"),
        ({"justification": "x" * 39}, "justification_too_short"),
        ({"justification": "  " + "x" * 38 + "   "}, "justification_too_short"),
        ({"case_reference": "  "}, "case_reference_missing"),
        ({"requester_role": "auditor"}, "role_may_not_request"),
        ({"requester_role": "approver"}, "role_may_not_request"),
        ({"requester_company": "thirdco"}, "not_party_to_hit"),
        ({"now": datetime(2025, 12, 31, 23, 0, tzinfo=UTC)}, "policy_not_yet_valid"),
        ({"now": datetime(2029, 1, 1, 0, 0, tzinfo=UTC)}, "policy_expired"),
    ],
)
def test_reveal_request_denials(policy: Policy, changes: dict[str, object], code: str) -> None:
    _denied(_ask(policy, **changes), code)


def test_justification_of_exactly_the_minimum_is_enough(policy: Policy) -> None:
    assert isinstance(_ask(policy, justification="x" * 40), Allowed)


def test_case_reference_must_match_the_policys_pattern() -> None:
    strict = _policy(("# case_reference_pattern", "case_reference_pattern"))
    assert isinstance(_ask(strict, case_reference="LIN-2026-17"), Allowed)
    _denied(_ask(strict, case_reference="CASE-SECRET-42"), "case_reference_invalid")


def test_requester_company_outside_a_listed_participant_set_is_denied() -> None:
    listed = _policy(('companies = ["*"]', 'companies = ["norrbo", "thirdco"]'))
    _denied(_ask(listed), "company_not_participant")


def test_no_retired_or_draft_policy_allows_anything() -> None:
    _denied(_ask(None), "no_policy")
    _denied(_ask(_policy(('status = "active"', 'status = "retired"'))), "policy_retired")
    _denied(_ask(_policy(('status = "active"', 'status = "draft"'))), "policy_not_active")
    _denied(evaluate_run(None, run_date=NOW.date()), "no_policy")
    _denied(
        evaluate_run(_policy(('status = "active"', 'status = "retired"')), run_date=NOW.date()),
        "policy_retired",
    )


def test_run_is_allowed_only_within_validity(policy: Policy) -> None:
    assert isinstance(evaluate_run(policy, run_date=date(2028, 12, 31)), Allowed)
    _denied(evaluate_run(policy, run_date=date(2029, 1, 1)), "policy_expired")


def test_naive_clock_is_a_programming_error(policy: Policy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _ask(policy, now=datetime(2026, 3, 2, 9, 0))


def _approve(
    policy: Policy,
    request: RevealRequest,
    approver: Actor,
    prior: tuple[Approval, ...] = (),
    after: timedelta = timedelta(hours=1),
) -> Decision:
    return evaluate_approval(
        policy, request=request, approver=approver, prior_approvals=prior, now=NOW + after
    )


def test_counterpart_approver_may_approve(policy: Policy) -> None:
    request = _request(policy)
    assert _approve(policy, request, BERTIL) == Allowed(fields=request.fields)


def test_self_approval_is_refused(policy: Policy) -> None:
    as_approver = Actor("anna", "approver", "norrbo")
    _denied(_approve(policy, _request(policy), as_approver), "self_approval")


def test_double_approval_by_one_person_is_refused() -> None:
    two = _policy(("approvals_required = 1 ", "approvals_required = 2 "))
    request = _request(two)
    first = _approval(request, BERTIL, timedelta(hours=1))
    _denied(_approve(two, request, BERTIL, (first,)), "already_approved")


@pytest.mark.parametrize("approver", [CECILIA, DAVID, Actor("erik", "approver", None)])
def test_approval_from_the_wrong_side_is_refused(policy: Policy, approver: Actor) -> None:
    _denied(_approve(policy, _request(policy), approver), "wrong_side")


@pytest.mark.parametrize(
    ("side", "allowed", "refused"),
    [("own", CECILIA, BERTIL), ("any", BERTIL, DAVID), ("any", CECILIA, DAVID)],
)
def test_approval_side_own_and_any(side: str, allowed: Actor, refused: Actor) -> None:
    sided = _policy(('approval_side = "counterpart"', f'approval_side = "{side}"'))
    request = _request(sided)
    assert isinstance(_approve(sided, request, allowed), Allowed)
    _denied(_approve(sided, request, refused), "wrong_side")


def test_approval_after_the_request_expired_is_refused(policy: Policy) -> None:
    request = _request(policy)
    assert isinstance(_approve(policy, request, BERTIL, after=timedelta(hours=168)), Allowed)
    decision = _approve(policy, request, BERTIL, after=timedelta(hours=168, seconds=1))
    assert "168 hours" in _denied(decision, "request_expired").reason


def test_investigator_may_not_approve(policy: Policy) -> None:
    investigator = Actor("bertil", "investigator", "norrbo")
    _denied(_approve(policy, _request(policy), investigator), "role_may_not_approve")


def test_request_with_all_approvals_is_no_longer_pending() -> None:
    any_side = _policy(('approval_side = "counterpart"', 'approval_side = "any"'))
    request = _request(any_side)
    done = (_approval(request, BERTIL, timedelta(hours=1)),)
    _denied(_approve(any_side, request, CECILIA, done), "request_not_pending")


def test_request_filed_under_another_policy_version_is_refused(policy: Policy) -> None:
    request = _request(policy, policy_digest=policy_digest(b"older policy text"))
    _denied(_approve(policy, request, BERTIL), "policy_mismatch")


def test_changed_request_needs_new_approvals(policy: Policy) -> None:
    request = _request(policy)
    approval = _approval(request, BERTIL, timedelta(hours=1))
    widened = replace(request, fields=(*request.fields, "city"))
    assert request_binding(widened) != request_binding(request)
    assert request_binding(replace(request, fields=request.fields[::-1])) == request_binding(
        request
    )
    _denied(_read(policy, widened, (approval,), ANNA, timedelta(hours=2)), "not_approved")
    # The same person may decide again on the changed request.
    assert isinstance(_approve(policy, widened, BERTIL, (approval,)), Allowed)


def _read(
    policy: Policy | None,
    request: RevealRequest,
    approvals: tuple[Approval, ...],
    reader: Actor,
    after: timedelta,
) -> Decision:
    return evaluate_disclosure(
        policy, request=request, approvals=approvals, reader=reader, now=NOW + after
    )


def test_requester_reads_allowed_fields_within_the_ttl(policy: Policy) -> None:
    request = _request(policy)
    approvals = (_approval(request, BERTIL, timedelta(hours=10)),)
    # The TTL runs from the approval, not from the request.
    decision = _read(policy, request, approvals, ANNA, timedelta(hours=82))
    assert decision == Allowed(fields=request.fields)


def test_disclosure_after_the_ttl_is_refused(policy: Policy) -> None:
    request = _request(policy)
    approvals = (_approval(request, BERTIL, timedelta(hours=10)),)
    decision = _read(policy, request, approvals, ANNA, timedelta(hours=82, seconds=1))
    assert "72 hours" in _denied(decision, "disclosure_expired").reason


@pytest.mark.parametrize("reader", [BERTIL, Actor("anna2", "investigator", "linbo")])
def test_disclosure_to_someone_else_is_refused(policy: Policy, reader: Actor) -> None:
    request = _request(policy)
    approvals = (_approval(request, BERTIL, timedelta(hours=1)),)
    _denied(_read(policy, request, approvals, reader, timedelta(hours=2)), "not_requester")


def test_disclosure_counts_only_approvals_that_keep_the_rules(policy: Policy) -> None:
    request = _request(policy)
    bad = (
        _approval(request, Actor("anna", "approver", "norrbo"), timedelta(hours=1)),  # self
        _approval(request, CECILIA, timedelta(hours=1)),  # wrong side
        _approval(request, Actor("x", "investigator", "norrbo"), timedelta(hours=1)),  # role
        _approval(request, BERTIL, timedelta(hours=169)),  # after the request expired
    )
    decision = _read(policy, request, bad, ANNA, timedelta(hours=170))
    assert "0 of the 1" in _denied(decision, "not_approved").reason


def test_two_approvals_required_means_two_distinct_people() -> None:
    two = _policy(
        ("approvals_required = 1 ", "approvals_required = 2 "),
        ('approval_side = "counterpart"', 'approval_side = "any"'),
    )
    request = _request(two)
    first = _approval(request, BERTIL, timedelta(hours=1))
    twice = (first, _approval(request, BERTIL, timedelta(hours=2)))
    _denied(_read(two, request, twice, ANNA, timedelta(hours=3)), "not_approved")
    assert isinstance(_approve(two, request, CECILIA, (first,)), Allowed)
    second = _approval(request, CECILIA, timedelta(hours=50))
    # The TTL runs from the approval that completed the quorum (hour 50), so hour 100 is fine.
    assert isinstance(_read(two, request, (first, second), ANNA, timedelta(hours=100)), Allowed)


def test_disclosure_under_a_retired_policy_is_refused(policy: Policy) -> None:
    retired = _policy(('status = "active"', 'status = "retired"'))
    request = _request(retired)
    approvals = (_approval(request, BERTIL, timedelta(hours=1)),)
    _denied(_read(retired, request, approvals, ANNA, timedelta(hours=2)), "policy_retired")
    _denied(_read(None, request, approvals, ANNA, timedelta(hours=2)), "no_policy")


def test_disclosure_never_exceeds_the_rules_field_set(policy: Policy) -> None:
    request = _request(policy, rule_id=FUZZY, fields=("first_name", "national_id"))
    approvals = (_approval(request, BERTIL, timedelta(hours=1)),)
    _denied(_read(policy, request, approvals, ANNA, timedelta(hours=2)), "fields_not_allowed")
