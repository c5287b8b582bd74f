"""Legal-basis policies: every problem of a policy file reported at once with its key path, and
the four-eyes truth table of the reveal, approval and disclosure decisions."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest

from matcher.core.policy import (
    Actor,
    Allowed,
    Approval,
    Decision,
    Denied,
    Policy,
    PolicyError,
    RevealRequest,
    check_policy,
    evaluate_approval,
    evaluate_disclosure,
    evaluate_reveal_request,
    evaluate_run,
    load_policy,
    request_binding,
)
from matcher.core.rules import RuleError, policy_digest, rules_from_policy
from matcher.errors import MatcherError
from matcher.store.tables import ROLES as STORE_ROLES

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


def _paths(text: str) -> dict[str, str]:
    return {p.path: p.message for p in check_policy(text.encode("utf-8"))}


def _denied(decision: Decision, code: str) -> Denied:
    assert isinstance(decision, Denied), decision
    assert decision.code == code, decision
    assert decision.reason.endswith(".")
    assert not any(secret in decision.reason for secret in SECRETS), decision.reason
    return decision


# ---------------------------------------------------------------------------------------------
# Validation


def test_shipped_policy_loads_with_no_problems() -> None:
    raw = SHIPPED.encode("utf-8")
    assert check_policy(raw) == []
    policy = load_policy(raw)
    assert (policy.id, policy.version, policy.status) == ("concurrent-tenancy", "1.2.0", "active")
    assert policy.digest == policy_digest(raw) == policy.rules.policy_digest
    assert policy.valid_from == date(2026, 1, 1) and policy.valid_until == date(2028, 12, 31)
    assert policy.legal_basis.gdpr_article.startswith("Art. 6(1)(e)")
    assert policy.dpia_reference == "DPIA-2026-014"
    assert policy.includes("linbo") and policy.participants == ("*",)
    assert [r.id for r in policy.rules.rules] == [EXACT, FUZZY]
    assert policy.reveal.approvals_required == 1
    assert policy.reveal.approval_side == "counterpart"
    assert policy.reveal.request_ttl == timedelta(hours=168)
    assert policy.reveal.disclosure_ttl == timedelta(hours=72)
    assert policy.retention.audit_log_years == 10


def test_policy_roles_are_the_matchers_user_roles() -> None:
    from matcher.core.policy import ROLES

    assert tuple(ROLES) == tuple(STORE_ROLES)


def test_every_kind_of_problem_is_reported_at_once_with_its_key_path() -> None:
    legal_basis = SHIPPED[SHIPPED.index("[legal_basis]") : SHIPPED.index("[participants]")]
    text = _variant(
        ("valid_until = 2028-12-31", "valid_until = 2025-12-31"),
        (legal_basis, ""),
        ("approvals_required = 1 ", "approvals_required = 0 "),
        ('approval_side = "counterpart"', 'approval_side = "neighbour"'),
        ('requesters = ["investigator"]', 'requesters = ["admin"]'),
        ('approvers = ["approver"]', 'approvers = ["boss"]'),
        ("disclosure_ttl_hours = 72", "disclosure_ttl_hour = 72"),
        ("hits_days = 365", "hits_days = 0"),
        (
            '    "apartment_number", "contract_id", "contract_start", "contract_end", '
            '"contract_type",\n]\n\n# Fuzzy',
            '    "apartment_number", "contract_id", "contract_start", "contract_end", '
            '"nationality",\n]\nmin = 0.9\n\n# Fuzzy',
        ),
        ("min = 0.95 ", "min = 1.5 "),
        ("floors = { birth_date = 0.95 }", "floors = { birth_date = 2.0 }"),
        ('purpose = """', 'purpse = "typo"\npurpose = """'),
    )
    problems = _paths(text)
    assert set(problems) == {
        "purpse",
        "valid_until",
        "legal_basis",
        "reveal.requesters[0]",
        "reveal.approvers[0]",
        "reveal.approvals_required",
        "reveal.approval_side",
        "reveal.disclosure_ttl_hour",
        "reveal.disclosure_ttl_hours",
        "retention.hits_days",
        "rules[0].min",
        "rules[0].reveal_fields",
        "rules[1].min",
        "rules[1].floors.birth_date",
    }
    assert "did you mean 'purpose'" in problems["purpse"]
    assert "did you mean 'disclosure_ttl_hours'" in problems["reveal.disclosure_ttl_hour"]
    assert "before valid_from 2026-01-01" in problems["valid_until"]
    assert "missing legal basis" in problems["legal_basis"]
    assert "may not take part" in problems["reveal.requesters[0]"]
    assert "'boss' is not a role" in problems["reveal.approvers[0]"]
    assert "at least one approval" in problems["reveal.approvals_required"]
    assert "'neighbour' is not one of own, counterpart, any" in problems["reveal.approval_side"]
    assert "0 is not a whole number of days >= 1" in problems["retention.hits_days"]
    assert "only fuzzy rules" in problems["rules[0].min"]
    assert "can not be revealed" in problems["rules[0].reveal_fields"]
    assert "nationality" in problems["rules[0].reveal_fields"]


def test_rule_problems_reuse_the_matching_engines_messages() -> None:
    text = _variant(("min = 0.95 ", "min = 1.5 "))
    data = tomllib.loads(text)
    with pytest.raises(RuleError) as raised:
        rules_from_policy(data, "")
    assert check_policy(text.encode("utf-8"))[0].message in str(raised.value)
    assert str(raised.value) == str(check_policy(text.encode("utf-8"))[0])


def test_several_bad_keys_of_one_rule_are_all_reported() -> None:
    problems = _paths(
        _variant(
            (
                'contract_types = ["residential", "student"]\nmin_overlap_days = 92\n# Weights',
                'contract_types = ["villa"]\nmin_overlap_days = 0\n# Weights',
            ),
            ("filters = { name = 0.6, birth_date = 0.4 }", "filters = { name = 0.6 }"),
            (
                "corroborating_tokens = { phone = 0.15, email = 0.15 }",
                "corroborating_tokens = { national_id = 0.15 }",
            ),
        )
    )
    assert set(problems) == {
        "rules[1].contract_types",
        "rules[1].min_overlap_days",
        "rules[1].filters",
        "rules[1].corroborating_tokens",
    }
    assert "sum to 0.6" in problems["rules[1].filters"]


def test_missing_rule_keys_lane_and_duplicate_ids_are_named() -> None:
    problems = _paths(
        _variant(
            (
                'id = "identity-variant"\nlane = "fuzzy"',
                'id = "concurrent-first-hand"\nlane = "fuzzy"',
            ),
            ("review_band = [0.90, 0.95]", ""),
            (
                'id = "concurrent-first-hand"\nlane = "exact"',
                'id = "concurrent-first-hand"\nlane = "exakt"',
            ),
        )
    )
    assert "rules[0].lane" in problems and "'exakt'" in problems["rules[0].lane"]
    assert "rules[1].review_band" in problems
    assert "used by rules[0]" in problems["rules[1].id"]


def test_toml_syntax_error_names_line_and_column() -> None:
    lines = SHIPPED.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("hits_days"))
    lines[at] = "hits_days = = 365"
    (problem,) = check_policy("\n".join(lines).encode("utf-8"))
    assert problem.line == at + 1 and problem.column is not None
    assert f"line {at + 1}" in str(problem) and "TOML syntax error" in problem.message


def test_bytes_that_are_not_utf8_are_one_problem() -> None:
    (problem,) = check_policy(b'id = "x"\nversion = "\xff"\n')
    assert "UTF-8" in problem.message


def test_placeholder_citation_blocks_an_active_policy_but_not_a_draft() -> None:
    statute = SHIPPED[SHIPPED.index('national_statute = """') : SHIPPED.index("[participants]")]
    placeholder = 'national_statute = "TO BE CONFIRMED BY THE DPO"\n\n'
    problems = _paths(_variant((statute, placeholder)))
    assert set(problems) == {"legal_basis.national_statute"}
    assert "placeholder" in problems["legal_basis.national_statute"]
    draft = _variant((statute, placeholder), ('status = "active"', 'status = "draft"'))
    assert check_policy(draft.encode("utf-8")) == []


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        (('status = "active"', 'status = "live"'), "status", "'live' is not one of"),
        (("valid_from = 2026-01-01", 'valid_from = "2026-01-01"'), "valid_from", "unquoted"),
        (("valid_from = 2026-01-01", "valid_from = 2026-01-01T00:00:00"), "valid_from", "date"),
        (('companies = ["*"]', 'companies = ["*", "linbo"]'), "participants.companies", '"*"'),
        (('companies = ["*"]', 'companies = ["Lin Bo"]'), "participants.companies", "company ids"),
        (('companies = ["*"]', "companies = []"), "participants.companies", "non-empty"),
        (
            ("request_ttl_hours = 168", "request_ttl_hours = true"),
            "reveal.request_ttl_hours",
            ">= 1",
        ),
        (("request_ttl_hours = 168", ""), "reveal.request_ttl_hours", "missing"),
        (
            ("# case_reference_pattern", 'case_reference_pattern = "([A-Z"\n#'),
            "reveal.case_reference_pattern",
            "regular expression",
        ),
        (("audit_log_years = 10", "audit_log_years = -1"), "retention.audit_log_years", "years"),
        (('dpia_reference = "DPIA-2026-014"', 'dpia_reference = ""'), "dpia_reference", "string"),
    ],
)
def test_single_problem_is_reported_at_its_path(
    edit: tuple[str, str], path: str, fragment: str
) -> None:
    problems = _paths(_variant(edit))
    assert list(problems) == [path]
    assert fragment in problems[path]


def test_load_policy_raises_one_matcher_error_with_every_problem() -> None:
    text = _variant(
        ("hits_days = 365", "hits_days = 0"), ("approvals_required = 1 ", "approvals_required = 0 ")
    )
    with pytest.raises(PolicyError) as raised:
        load_policy(text.encode("utf-8"))
    assert isinstance(raised.value, MatcherError) and raised.value.status == 422
    assert [p.path for p in raised.value.problems] == [
        "reveal.approvals_required",
        "retention.hits_days",
    ]
    assert "2 problems" in str(raised.value) and "retention.hits_days" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Evaluation


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
