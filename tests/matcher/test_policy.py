"""Legal-basis policies: every problem of a policy file reported at once with its key path.

The four-eyes decisions taken under a policy are tested in ``test_decisions.py``."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from importlib import resources

import pytest

from matcher.core.matching.rules import RuleError, policy_digest, rules_from_policy
from matcher.core.policy import PolicyError, check_policy, load_policy
from matcher.errors import MatcherError
from matcher.store.tables import ROLES as STORE_ROLES

SHIPPED = resources.files("policies").joinpath("concurrent-tenancy.toml").read_text("utf-8")
EXACT = "concurrent-first-hand"
FUZZY = "identity-variant"


def _variant(*edits: tuple[str, str]) -> str:
    """The shipped policy text with each ``(old, new)`` replaced exactly once."""
    text = SHIPPED
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _paths(text: str) -> dict[str, str]:
    return {p.path: p.message for p in check_policy(text.encode("utf-8"))}


def test_shipped_policy_loads_with_no_problems() -> None:
    raw = SHIPPED.encode("utf-8")
    assert check_policy(raw) == []
    policy = load_policy(raw)
    assert (policy.id, policy.version, policy.status) == ("concurrent-tenancy", "1.3.0", "active")
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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("", "missing; add a whole number of days >= 1"),
        ("max_lookback_days = 0\n", "0 is not a whole number of days >= 1"),
        ("max_lookback_days = true\n", "True is not a whole number of days >= 1"),
    ],
)
def test_a_policy_needs_a_look_back_limit(edit: str, message: str) -> None:
    text = SHIPPED.replace("max_lookback_days = 1095\n", edit)
    assert _paths(text)["max_lookback_days"] == message


def test_the_shipped_policy_looks_back_three_years() -> None:
    policy = load_policy(SHIPPED.encode("utf-8"))
    assert policy.max_lookback_days == 1095
    assert policy.rules.lookback_cutoff(date(2026, 11, 1)) == date(2023, 11, 2)
