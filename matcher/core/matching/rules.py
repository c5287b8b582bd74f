"""Match rules: the part of a legal-basis policy the matching engine executes.

A policy file (``policies/*.toml``, docs/architecture.md) is parsed with ``tomllib``
by the caller; :func:`rules_from_policy` turns its ``[[rules]]`` tables into typed, validated
:class:`ExactRule` and :class:`FuzzyRule` values. The policy's digest (:func:`policy_digest`,
over the exact file bytes) travels with the rules so every run and hit can name the policy
text it was decided under. Activation, validity windows and the reveal/retention sections are
checked by the policy module, not here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

from contract import CONTRACT_TYPES, REVEALABLE_FIELDS, TOKEN_FIELDS

__all__ = [
    "DEFAULT_MIN_OVERLAP_DAYS",
    "ExactRule",
    "FuzzyRule",
    "Rule",
    "RuleError",
    "RuleSet",
    "policy_digest",
    "rules_from_policy",
]

# A three-month notice period is a legitimate overlap (docs/architecture.md, "Matching").
DEFAULT_MIN_OVERLAP_DAYS: Final = 92

Lane = Literal["exact", "fuzzy"]


class RuleError(ValueError):
    """A rule in the policy is malformed; the message names the key path, e.g. ``rules[1].min``.

    Policies hold no personal data, so the offending value may be quoted.
    """


@dataclass(frozen=True)
class ExactRule:
    """Equal national-id token at two companies, both contracts of a listed type, overlapping."""

    id: str
    contract_types: frozenset[str]
    min_overlap_days: int = DEFAULT_MIN_OVERLAP_DAYS
    reveal_fields: tuple[str, ...] = ()
    description: str | None = field(default=None, compare=False)

    @property
    def lane(self) -> Lane:
        return "exact"

    @property
    def plain_description(self) -> str | None:
        return _described(self.description, self.min_overlap_days)


@dataclass(frozen=True)
class FuzzyRule:
    """National-id tokens differ or are missing, but the weighted Bloom-filter Dice is high.

    ``filters`` maps a filter name (column ``filter_<name>``) to its weight; weights sum to 1,
    so the weighted Dice is in 0..1. ``floors`` are per-filter minimum Dice values: a pair below
    any floor is never a hit, however high the rest scores (two people with one name and
    different birth dates are two people).

    Missing evidence is not disagreement: a filter that is null (or empty) on either record of
    a pair is left out of that pair's score, the weights of the filters present on both are
    renormalised to sum to 1, and a floor applies only when its filter is present on both. A
    pair with no weighted filter present on both is never a hit. (Before, a missing birth date
    scored Dice 0 and failed its floor, so such a record could never be matched.)
    ``corroboration`` maps an exact token field (phone,
    email) to a bonus added when both records carry that token and it is equal: independent
    evidence that tells a surname change apart from a namesake. The score is
    ``min(1, weighted Dice + largest bonus)``; ``score >= min`` is band "strong",
    ``review_band[0] <= score < min`` is band "review"; ``review_band[1]`` equals ``min``.
    """

    id: str
    contract_types: frozenset[str]
    min_overlap_days: int
    # Excluded from hashing: a mapping is not hashable, and the id identifies the rule anyway.
    filters: Mapping[str, float] = field(hash=False)
    min: float
    review_band: tuple[float, float]
    reveal_fields: tuple[str, ...] = ()
    floors: Mapping[str, float] = field(default_factory=dict, hash=False)
    corroboration: Mapping[str, float] = field(default_factory=dict, hash=False)
    description: str | None = field(default=None, compare=False)

    @property
    def lane(self) -> Lane:
        return "fuzzy"

    @property
    def plain_description(self) -> str | None:
        return _described(self.description, self.min_overlap_days)


Rule = ExactRule | FuzzyRule


def _described(description: str | None, min_overlap_days: int) -> str | None:
    """The policy's own words for a rule, with its overlap threshold filled in (the policies
    write ``min_overlap_days`` where the number goes)."""
    if description is None:
        return None
    return description.replace("min_overlap_days", f"{min_overlap_days} days")


@dataclass(frozen=True)
class RuleSet:
    """The rules of one policy version, with the digest of the policy file they came from."""

    policy_id: str
    policy_version: str
    policy_digest: str
    rules: tuple[Rule, ...]
    # Overlaps that ended more than this many days before the run date are not matched (the
    # policy check requires it; None only for rule sets built in tests without one).
    max_lookback_days: int | None = None

    def lookback_cutoff(self, run_date: date) -> date | None:
        """The earliest contract end a run on ``run_date`` still looks at."""
        if self.max_lookback_days is None:
            return None
        return run_date - timedelta(days=self.max_lookback_days)

    @property
    def exact_rules(self) -> tuple[ExactRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, ExactRule))

    @property
    def fuzzy_rules(self) -> tuple[FuzzyRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, FuzzyRule))


def policy_digest(raw: bytes) -> str:
    """Digest of a policy file: ``"sha256:"`` + hex of SHA-256 over the exact file bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def rules_from_policy(data: Mapping[str, Any], digest: str) -> RuleSet:
    """Build the :class:`RuleSet` of a ``tomllib``-parsed policy.

    Raises :class:`RuleError` naming the first bad key path. A policy without rules is refused:
    a run under it could only ever find nothing, which would look like a clean result.
    """
    policy_id = _string(data, "id", "id")
    version = _string(data, "version", "version")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError("rules: expected at least one [[rules]] table; add the policy's rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        path = f"rules[{index}]"
        if not isinstance(raw, Mapping):
            raise RuleError(f"{path}: expected a table, got {type(raw).__name__}")
        rule = _rule(raw, path)
        if rule.id in seen:
            raise RuleError(
                f"{path}.id: {rule.id!r} is used by an earlier rule; ids must be unique"
            )
        seen.add(rule.id)
        rules.append(rule)
    lookback = data.get("max_lookback_days")
    if lookback is not None and (
        isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1
    ):
        raise RuleError(f"max_lookback_days: {lookback!r} is not a whole number of days >= 1")
    return RuleSet(
        policy_id=policy_id,
        policy_version=version,
        policy_digest=digest,
        rules=tuple(rules),
        max_lookback_days=lookback,
    )


def _rule(raw: Mapping[str, Any], path: str) -> Rule:
    rule_id = _string(raw, "id", f"{path}.id")
    lane = raw.get("lane")
    contract_types = _contract_types(raw.get("contract_types"), f"{path}.contract_types")
    min_overlap = raw.get("min_overlap_days", DEFAULT_MIN_OVERLAP_DAYS)
    # bool is an int subclass; `true` as a day count is a typo, not a number.
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, int) or min_overlap < 1:
        raise RuleError(
            f"{path}.min_overlap_days: {min_overlap!r} is not a whole number of days >= 1"
        )
    reveal = _reveal_fields(raw.get("reveal_fields", []), f"{path}.reveal_fields")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise RuleError(f"{path}.description: expected a string, got {description!r}")
    if lane == "exact":
        return ExactRule(rule_id, contract_types, min_overlap, reveal, description)
    if lane == "fuzzy":
        filters = _filters(raw.get("filters"), f"{path}.filters")
        minimum = _unit(raw.get("min"), f"{path}.min")
        band = raw.get("review_band")
        if not isinstance(band, Sequence) or isinstance(band, str) or len(band) != 2:
            raise RuleError(f"{path}.review_band: expected [low, high], got {band!r}")
        low = _unit(band[0], f"{path}.review_band[0]")
        high = _unit(band[1], f"{path}.review_band[1]")
        if not math.isclose(high, minimum) or low > high:
            raise RuleError(
                f"{path}.review_band: [{low}, {high}] must be [low, min], low <= min = {minimum}"
            )
        floors = _floors(raw.get("floors", {}), f"{path}.floors")
        corroboration = _corroboration(
            raw.get("corroborating_tokens", {}), f"{path}.corroborating_tokens"
        )
        return FuzzyRule(
            rule_id,
            contract_types,
            min_overlap,
            filters,
            minimum,
            (low, minimum),
            reveal,
            floors,
            corroboration,
            description,
        )
    raise RuleError(f"{path}.lane: {lane!r} is not one of 'exact', 'fuzzy'")


def _string(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def _unit(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{path}: expected a number between 0 and 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise RuleError(f"{path}: {value} is outside 0..1")
    return float(value)


def _contract_types(value: Any, path: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise RuleError(f"{path}: expected a non-empty list of {', '.join(CONTRACT_TYPES)}")
    unknown = [v for v in value if v not in CONTRACT_TYPES]
    if unknown:
        raise RuleError(
            f"{path}: {unknown!r} not known; expected some of {', '.join(CONTRACT_TYPES)}"
        )
    return frozenset(value)


def _reveal_fields(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise RuleError(f"{path}: expected a list of field names, got {value!r}")
    unknown = [v for v in value if v not in REVEALABLE_FIELDS]
    if unknown:
        raise RuleError(
            f"{path}: {unknown!r} can not be revealed; expected some of "
            f"{', '.join(REVEALABLE_FIELDS)}"
        )
    return tuple(value)


def _filters(value: Any, path: str) -> Mapping[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise RuleError(f"{path}: expected a table of filter name = weight, got {value!r}")
    weights = {str(name): _unit(weight, f"{path}.{name}") for name, weight in value.items()}
    total = sum(weights.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise RuleError(f"{path}: weights sum to {total:g}; they must sum to 1")
    return MappingProxyType(weights)


def _floors(value: Any, path: str) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise RuleError(f"{path}: expected a table of filter name = minimum Dice, got {value!r}")
    return MappingProxyType(
        {str(name): _unit(floor, f"{path}.{name}") for name, floor in value.items()}
    )


def _corroboration(value: Any, path: str) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise RuleError(f"{path}: expected a table of token field = bonus, got {value!r}")
    usable = [f for f in TOKEN_FIELDS if f != "national_id"]
    unknown = [name for name in value if name not in usable]
    if unknown:
        raise RuleError(
            f"{path}: {unknown!r} are not token fields; expected some of {', '.join(usable)}"
        )
    return MappingProxyType(
        {str(name): _unit(bonus, f"{path}.{name}") for name, bonus in value.items()}
    )
