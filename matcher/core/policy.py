"""Legal-basis policies: the policy model, and parsing and validation of a policy file.

A policy (``policies/*.toml``, format in ``policies/README.md``) is data reviewed by lawyers and
the DPO. :func:`check_policy` lists *every* problem of a policy file with its key path, so a
reviewer fixes them in one pass; :func:`load_policy` returns a typed :class:`Policy` or raises
:class:`PolicyError` carrying those problems. The match rules are parsed by
:func:`matcher.core.matching.rules.rules_from_policy`, whose messages are reused here.

The pure decisions taken under a policy (runs, reveal requests, approvals, disclosures) are in
:mod:`matcher.core.decisions`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, cast

from matcher.core.limits import COMPANY_ID
from matcher.core.matching.rules import RuleError, RuleSet, policy_digest, rules_from_policy
from matcher.core.vocabulary import ROLES as VOCABULARY_ROLES
from matcher.errors import MatcherError

__all__ = [
    "APPROVAL_SIDES",
    "REQUEST_ROLES",
    "ROLES",
    "STATUSES",
    "LegalBasis",
    "Policy",
    "PolicyError",
    "Problem",
    "Retention",
    "RevealPolicy",
    "check_policy",
    "load_policy",
]

Status = Literal["draft", "active", "retired"]
ApprovalSide = Literal["own", "counterpart", "any"]

STATUSES: Final = ("draft", "active", "retired")
APPROVAL_SIDES: Final = ("own", "counterpart", "any")
# The matcher's user roles (the core's vocabulary, which the store re-exports).
ROLES: Final = VOCABULARY_ROLES
# Only people who work hits may request or approve: an admin or auditor reading personal data
# would defeat the separation of duties (auditors verify the log and must see no personal data).
REQUEST_ROLES: Final = ("investigator", "approver")

# A citation a reviewer has not finished; an active policy must not rest on one.
_PLACEHOLDER = re.compile(r"\b(TO BE CONFIRMED|TODO|TBD|PLACEHOLDER|FIXME)\b", re.IGNORECASE)
_TOML_POSITION = re.compile(r"^(?P<what>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")

_TOP_KEYS: Final = (
    "id",
    "version",
    "status",
    "valid_from",
    "valid_until",
    "max_lookback_days",
    "purpose",
    "legal_basis",
    "dpia_reference",
    "privacy_notice_reference",
    "participants",
    "rules",
    "reveal",
    "retention",
)
_LEGAL_BASIS_KEYS: Final = ("gdpr_article", "national_statute")
_PARTICIPANTS_KEYS: Final = ("companies",)
_REVEAL_KEYS: Final = (
    "requesters",
    "approvers",
    "approvals_required",
    "approval_side",
    "disclosure_ttl_hours",
    "request_ttl_hours",
    "min_justification_chars",
    "case_reference_pattern",
)
_RETENTION_KEYS: Final = (
    "superseded_extracts_days",
    "hits_days",
    "disclosures_days",
    "closed_cases_days",
    "audit_log_years",
)
_COMPANY_ID = COMPANY_ID  # as contract.Manifest.company_id

# Rule keys, grouped so that each group is checked on its own against a known-good rule (see
# _check_rule): a reviewer sees every bad key of a rule, not only the first. min and
# review_band are one group because review_band is only meaningful relative to min.
_COMMON_RULE_GROUPS: Final = (
    ("id",),
    ("contract_types",),
    ("min_overlap_days",),
    ("reveal_fields",),
)
_FUZZY_RULE_GROUPS: Final = (
    ("filters",),
    ("min", "review_band"),
    ("floors",),
    ("corroborating_tokens",),
)
_FUZZY_ONLY_KEYS: Final = tuple(k for group in _FUZZY_RULE_GROUPS for k in group)
_RULE_KEYS: Final = ("id", "lane", "description", *(k for g in _COMMON_RULE_GROUPS for k in g))
_GOOD_RULE: Final[Mapping[str, Mapping[str, Any]]] = {
    "exact": {"id": "x", "lane": "exact", "contract_types": ["residential"]},
    "fuzzy": {
        "id": "x",
        "lane": "fuzzy",
        "contract_types": ["residential"],
        "filters": {"name": 1.0},
        "min": 0.9,
        "review_band": [0.8, 0.9],
    },
}


class PolicyError(MatcherError):
    """A policy file can not be used; :attr:`problems` lists every problem with its key path.

    Policies hold no personal data, so the message may quote the offending values.
    """

    status = 422
    slug = "invalid-policy"
    title = "Policy invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        listed = "; ".join(str(p) for p in self.problems)
        super().__init__(f"the policy has {count} problem{'s' if count != 1 else ''}: {listed}")


@dataclass(frozen=True)
class Problem:
    """One problem in a policy file. ``path`` is the key path (``reveal.approvals_required``,
    ``rules[1].min``); empty for the file as a whole (then ``line``/``column`` locate it)."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.path or (f"line {self.line}, column {self.column}" if self.line else "file")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class LegalBasis:
    """The GDPR article and the national statute the processing rests on."""

    gdpr_article: str
    national_statute: str


@dataclass(frozen=True)
class RevealPolicy:
    """Who may request and approve a reveal, how many approvals from which side, and for how long.

    ``approval_side``: ``own`` = the approver works at the requester's company, ``counterpart`` =
    at the other company of the hit, ``any`` = at either company of the hit.
    """

    requesters: frozenset[str]
    approvers: frozenset[str]
    approvals_required: int
    approval_side: ApprovalSide
    disclosure_ttl_hours: int
    request_ttl_hours: int
    min_justification_chars: int
    case_reference_pattern: str | None = None

    @property
    def disclosure_ttl(self) -> timedelta:
        return timedelta(hours=self.disclosure_ttl_hours)

    @property
    def request_ttl(self) -> timedelta:
        return timedelta(hours=self.request_ttl_hours)


@dataclass(frozen=True)
class Retention:
    """How long each artefact is kept before ``matcher purge`` deletes it."""

    superseded_extracts_days: int
    hits_days: int
    disclosures_days: int
    closed_cases_days: int
    audit_log_years: int


@dataclass(frozen=True)
class Policy:
    """One validated policy file. ``digest`` is over its exact bytes (``rules.policy_digest``)."""

    id: str
    version: str
    status: Status
    valid_from: date
    valid_until: date
    max_lookback_days: int  # overlaps ended longer ago than this before the run are not matched
    purpose: str
    legal_basis: LegalBasis
    dpia_reference: str
    privacy_notice_reference: str
    participants: tuple[str, ...]
    rules: RuleSet
    reveal: RevealPolicy
    retention: Retention
    digest: str

    def includes(self, company: str) -> bool:
        """Whether ``company`` takes part (``participants = ["*"]`` means every company)."""
        return "*" in self.participants or company in self.participants

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


# ---------------------------------------------------------------------------------------------
# Validation


def check_policy(raw: bytes) -> list[Problem]:
    """Every problem of the policy file ``raw`` (its exact bytes), in file order; empty if none."""
    return _parse(raw)[1]


def load_policy(raw: bytes) -> Policy:
    """The :class:`Policy` of ``raw``, or :class:`PolicyError` listing every problem."""
    policy, problems = _parse(raw)
    if problems or policy is None:
        raise PolicyError(problems)
    return policy


class _Checker:
    """Reads values out of the parsed TOML, recording a problem (and returning None) when bad."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is None:
            self.add(path, f"missing; add a [{path}] table")
            return None
        if not isinstance(value, Mapping):
            self.add(path, f"expected a table, got {_kind(value)}")
            return None
        return value

    def unknown_keys(self, data: Mapping[str, Any], known: Sequence[str], prefix: str) -> None:
        for key in data:
            if key in known:
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            advice = f"did you mean {hint[0]!r}?" if hint else f"expected {', '.join(known)}"
            self.add(f"{prefix}{key}", f"unknown key; {advice}")

    def text(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None:
            self.add(path, "missing; add it as a non-empty string")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(path, f"expected a non-empty string, got {value!r}")
            return None
        return value

    def day(self, data: Mapping[str, Any], key: str, path: str) -> date | None:
        value = data.get(key)
        # A TOML datetime is a date subclass in Python; a validity bound is a whole day.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if value is None:
            self.add(path, "missing; add a date such as 2026-01-01 (unquoted)")
        else:
            self.add(path, f"expected a date such as 2026-01-01 (unquoted), got {value!r}")
        return None

    def count(self, data: Mapping[str, Any], key: str, path: str, unit: str) -> int | None:
        value = data.get(key)
        if value is None:
            self.add(path, f"missing; add a whole number of {unit} >= 1")
            return None
        # bool is an int subclass; `true` as a count is a typo, not a number.
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.add(path, f"{value!r} is not a whole number of {unit} >= 1")
            return None
        return value

    def roles(self, data: Mapping[str, Any], key: str, path: str) -> frozenset[str] | None:
        value = data.get(key)
        if not isinstance(value, list) or not value:
            self.add(path, f"expected a non-empty list of roles, got {value!r}")
            return None
        ok = True
        for index, role in enumerate(value):
            if role not in ROLES:
                self.add(f"{path}[{index}]", f"{role!r} is not a role; roles: {', '.join(ROLES)}")
                ok = False
            elif role not in REQUEST_ROLES:
                self.add(
                    f"{path}[{index}]",
                    f"{role!r} may not take part in reveals; only {', '.join(REQUEST_ROLES)}",
                )
                ok = False
        return frozenset(value) if ok else None


def _parse(raw: bytes) -> tuple[Policy | None, list[Problem]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem("", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_problem(exc)]

    c = _Checker()
    c.unknown_keys(data, _TOP_KEYS, "")
    policy_id = c.text(data, "id", "id")
    version = c.text(data, "version", "version")
    status = data.get("status")
    if status not in STATUSES:
        c.add("status", _not_one_of(status, STATUSES))
    valid_from = c.day(data, "valid_from", "valid_from")
    valid_until = c.day(data, "valid_until", "valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        c.add("valid_until", f"{valid_until} is before valid_from {valid_from}")
    lookback = c.count(data, "max_lookback_days", "max_lookback_days", "days")
    purpose = c.text(data, "purpose", "purpose")
    legal_basis = _legal_basis(c, data, status)
    dpia = c.text(data, "dpia_reference", "dpia_reference")
    notice = c.text(data, "privacy_notice_reference", "privacy_notice_reference")
    if status == "active":
        for path, value in (("dpia_reference", dpia), ("privacy_notice_reference", notice)):
            if value and _PLACEHOLDER.search(value):
                c.add(path, "is a placeholder; an active policy needs the real reference")
    participants = _participants(c, data)
    rules_ok = _check_rules(c, data.get("rules"))
    reveal = _reveal(c, data)
    retention = _retention(c, data)

    if c.problems:
        return None, c.problems
    # Every value was checked above; the asserts narrow the Optionals for mypy.
    assert policy_id and version and valid_from and valid_until and purpose
    assert legal_basis and dpia and notice and participants and rules_ok
    assert reveal and retention and lookback
    digest = policy_digest(raw)
    return (
        Policy(
            id=policy_id,
            version=version,
            status=cast(Status, status),
            valid_from=valid_from,
            valid_until=valid_until,
            max_lookback_days=lookback,
            purpose=purpose,
            legal_basis=legal_basis,
            dpia_reference=dpia,
            privacy_notice_reference=notice,
            participants=participants,
            rules=rules_from_policy(data, digest),
            reveal=reveal,
            retention=retention,
            digest=digest,
        ),
        [],
    )


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    # Python 3.11's TOMLDecodeError has no lineno attribute; the position is in the message.
    found = _TOML_POSITION.match(str(exc))
    if found is None:
        return Problem("", f"TOML syntax error: {exc}; fix the file")
    line, column = int(found["line"]), int(found["col"])
    return Problem(
        "",
        f"TOML syntax error: {found['what']} at line {line}, column {column}; fix the file",
        line,
        column,
    )


def _legal_basis(c: _Checker, data: Mapping[str, Any], status: object) -> LegalBasis | None:
    table = data.get("legal_basis")
    if not isinstance(table, Mapping):
        c.add(
            "legal_basis",
            "missing legal basis; add a [legal_basis] table with gdpr_article and national_statute"
            if table is None
            else f"expected a table, got {_kind(table)}",
        )
        return None
    c.unknown_keys(table, _LEGAL_BASIS_KEYS, "legal_basis.")
    article = c.text(table, "gdpr_article", "legal_basis.gdpr_article")
    statute = c.text(table, "national_statute", "legal_basis.national_statute")
    if status == "active":
        for key, value in (("gdpr_article", article), ("national_statute", statute)):
            if value and _PLACEHOLDER.search(value):
                c.add(
                    f"legal_basis.{key}",
                    "is a placeholder; an active policy needs the citation the lawyer and the "
                    "DPO confirmed (or keep the policy a draft)",
                )
    return LegalBasis(article, statute) if article and statute else None


def _participants(c: _Checker, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    table = c.table(data, "participants", "participants")
    if table is None:
        return None
    c.unknown_keys(table, _PARTICIPANTS_KEYS, "participants.")
    companies = table.get("companies")
    path = "participants.companies"
    if not isinstance(companies, list) or not companies:
        c.add(path, f'expected a non-empty list of company ids or ["*"], got {companies!r}')
        return None
    if "*" in companies and len(companies) > 1:
        c.add(path, '"*" already means every company; list either "*" or company ids')
        return None
    bad = [x for x in companies if x != "*" and not (isinstance(x, str) and _COMPANY_ID.match(x))]
    if bad:
        c.add(path, f"{bad!r} are not company ids (lower-case letters, digits, '-', '_')")
        return None
    return tuple(companies)


def _check_rules(c: _Checker, raw_rules: Any) -> bool:
    if not isinstance(raw_rules, list) or not raw_rules:
        c.add("rules", "expected at least one [[rules]] table; add the policy's rules")
        return False
    before = len(c.problems)
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        path = f"rules[{index}]"
        if not isinstance(raw, Mapping):
            c.add(path, f"expected a table, got {_kind(raw)}")
            continue
        _check_rule(c, raw, path)
        rule_id = raw.get("id")
        if isinstance(rule_id, str) and rule_id in seen:
            c.add(
                f"{path}.id",
                f"{rule_id!r} is used by rules[{seen[rule_id]}]; ids must be unique",
            )
        elif isinstance(rule_id, str):
            seen[rule_id] = index
    return len(c.problems) == before


def _check_rule(c: _Checker, raw: Mapping[str, Any], path: str) -> None:
    """Check one rule, reporting every bad key with :class:`RuleError`'s own message.

    ``rules_from_policy`` stops at the first bad key. To report them all, each key group is
    substituted into a known-good rule of the same lane and parsed on its own, so the message
    (and so the wording users see) stays the one the matching engine would give.
    """
    lane = raw.get("lane")
    known = _RULE_KEYS + (_FUZZY_ONLY_KEYS if lane == "fuzzy" else ())
    for key in raw:
        if key in known:
            continue
        if key in _FUZZY_ONLY_KEYS:
            c.add(f"{path}.{key}", f"only fuzzy rules have {key!r}; this rule's lane is {lane!r}")
        else:
            hint = difflib.get_close_matches(key, known, n=1)
            advice = f"did you mean {hint[0]!r}?" if hint else f"expected {', '.join(known)}"
            c.add(f"{path}.{key}", f"unknown key; {advice}")
    if lane not in _GOOD_RULE:
        c.add(f"{path}.lane", f"{lane!r} is not one of 'exact', 'fuzzy'")
    base = _GOOD_RULE["fuzzy" if lane == "fuzzy" else "exact"]
    groups = _COMMON_RULE_GROUPS + (_FUZZY_RULE_GROUPS if lane == "fuzzy" else ())
    for group in groups:
        candidate = dict(base)
        for key in group:
            if key in raw:
                candidate[key] = raw[key]
            else:
                # Missing: let rules_from_policy apply its default or name the missing key.
                candidate.pop(key, None)
        try:
            rules_from_policy({"id": "x", "version": "x", "rules": [candidate]}, "")
        except RuleError as exc:
            where, _, message = str(exc).partition(": ")
            c.add(path + where.removeprefix("rules[0]"), message)


def _reveal(c: _Checker, data: Mapping[str, Any]) -> RevealPolicy | None:
    table = c.table(data, "reveal", "reveal")
    if table is None:
        return None
    c.unknown_keys(table, _REVEAL_KEYS, "reveal.")
    before = len(c.problems)
    requesters = c.roles(table, "requesters", "reveal.requesters")
    approvers = c.roles(table, "approvers", "reveal.approvers")
    required = table.get("approvals_required")
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        c.add(
            "reveal.approvals_required",
            f"{required!r} is not a whole number >= 1; four-eyes needs at least one approval",
        )
    side = table.get("approval_side")
    if side not in APPROVAL_SIDES:
        c.add("reveal.approval_side", _not_one_of(side, APPROVAL_SIDES))
    disclosure = c.count(table, "disclosure_ttl_hours", "reveal.disclosure_ttl_hours", "hours")
    request = c.count(table, "request_ttl_hours", "reveal.request_ttl_hours", "hours")
    chars = c.count(
        table, "min_justification_chars", "reveal.min_justification_chars", "characters"
    )
    pattern = table.get("case_reference_pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            c.add(
                "reveal.case_reference_pattern", f"expected a regular expression, got {pattern!r}"
            )
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                c.add(
                    "reveal.case_reference_pattern",
                    f"not a valid regular expression ({exc}); fix the pattern",
                )
    if len(c.problems) != before:
        return None
    assert requesters and approvers and disclosure and request and chars
    return RevealPolicy(
        requesters=requesters,
        approvers=approvers,
        approvals_required=cast(int, required),
        approval_side=cast(ApprovalSide, side),
        disclosure_ttl_hours=disclosure,
        request_ttl_hours=request,
        min_justification_chars=chars,
        case_reference_pattern=pattern,
    )


def _retention(c: _Checker, data: Mapping[str, Any]) -> Retention | None:
    table = c.table(data, "retention", "retention")
    if table is None:
        return None
    c.unknown_keys(table, _RETENTION_KEYS, "retention.")
    values = [
        c.count(table, key, f"retention.{key}", "years" if key.endswith("years") else "days")
        for key in _RETENTION_KEYS
    ]
    if any(v is None for v in values):
        return None
    return Retention(*(v for v in values if v is not None))


def _not_one_of(value: object, allowed: Sequence[str]) -> str:
    if value is None:
        return f"missing; add one of {', '.join(allowed)}"
    return f"{value!r} is not one of {', '.join(allowed)}"


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
