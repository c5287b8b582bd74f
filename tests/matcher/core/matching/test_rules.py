"""Policy rules: the shipped policy parses, and every malformed rule is refused by key path."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from matcher.core.matching.rules import (
    ExactRule,
    FuzzyRule,
    RuleError,
    policy_digest,
    rules_from_policy,
)


def _shipped() -> tuple[bytes, dict[str, Any]]:
    raw = resources.files("policies").joinpath("concurrent-tenancy.toml").read_bytes()
    return raw, tomllib.loads(raw.decode("utf-8"))


def test_shipped_policy_gives_one_exact_and_one_fuzzy_rule() -> None:
    raw, data = _shipped()
    rules = rules_from_policy(data, policy_digest(raw))
    assert rules.policy_id == "concurrent-tenancy"
    assert rules.policy_version == "1.3.0"
    exact, fuzzy = rules.rules
    assert isinstance(exact, ExactRule) and isinstance(fuzzy, FuzzyRule)
    assert exact.contract_types == {"residential", "student"}
    assert exact.min_overlap_days == 92
    assert "national_id" in exact.reveal_fields
    assert sum(fuzzy.filters.values()) == pytest.approx(1.0)
    assert fuzzy.review_band[0] < fuzzy.min == fuzzy.review_band[1]
    assert fuzzy.floors == {"birth_date": 0.95}
    assert set(fuzzy.corroboration) == {"phone", "email"}
    assert rules.exact_rules == (exact,) and rules.fuzzy_rules == (fuzzy,)


def test_digest_is_sha256_of_exact_bytes_and_changes_with_any_edit() -> None:
    raw, _ = _shipped()
    digest = policy_digest(raw)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert policy_digest(raw + b"\n") != digest


def _broken(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    _, data = _shipped()
    data = copy.deepcopy(data)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("rules", 1, "min"), 1.3, "rules[1].min: 1.3 is outside 0..1"),
        (("rules", 0, "lane"), "probabilistic", "rules[0].lane"),
        (("rules", 0, "contract_types"), ["residential", "castle"], "rules[0].contract_types"),
        (("rules", 0, "contract_types"), [], "rules[0].contract_types"),
        (("rules", 0, "min_overlap_days"), 0, "rules[0].min_overlap_days"),
        (("rules", 0, "min_overlap_days"), True, "rules[0].min_overlap_days"),
        (("rules", 0, "reveal_fields"), ["nationality"], "rules[0].reveal_fields"),
        (("rules", 1, "filters"), {"name": 0.6, "birth_date": 0.6}, "sum to 1.2"),
        (("rules", 1, "filters"), {"name": 1.5, "birth_date": -0.5}, "rules[1].filters.name"),
        (("rules", 1, "review_band"), [0.9, 0.8], "rules[1].review_band"),
        (("rules", 1, "review_band"), [0.6, 0.7], "rules[1].review_band"),
        (("rules", 1, "review_band"), 0.7, "rules[1].review_band"),
        (("rules", 1, "id"), "concurrent-first-hand", "must be unique"),
        (("rules",), [], "rules: expected at least one"),
        (("id",), "", "id: expected a non-empty string"),
        (("rules", 1, "min"), _DELETE, "rules[1].min"),
        (("rules", 1, "floors"), {"birth_date": 1.2}, "rules[1].floors.birth_date"),
        (("rules", 1, "floors"), 0.9, "rules[1].floors: expected a table"),
        (("rules", 1, "corroborating_tokens"), {"national_id": 0.1}, "are not token fields"),
        (("rules", 1, "corroborating_tokens"), {"phone": 2}, "corroborating_tokens.phone"),
    ],
)
def test_malformed_rule_is_refused_naming_the_key(
    path: tuple[str | int, ...], value: Any, message: str
) -> None:
    with pytest.raises(RuleError, match=r".*".join(map(_escape, message.split(".*")))):
        rules_from_policy(_broken(path, value), "sha256:00")


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_missing_overlap_defaults_to_92_days() -> None:
    data = _broken(("rules", 0, "min_overlap_days"), _DELETE)
    rules = rules_from_policy(data, "sha256:00")
    assert rules.rules[0].min_overlap_days == 92


def test_each_rule_carries_the_policys_own_words_with_the_threshold_filled_in() -> None:
    raw, data = _shipped()
    exact = rules_from_policy(data, policy_digest(raw)).exact_rules[0]
    assert exact.plain_description is not None
    assert "overlap by at least 92 days" in exact.plain_description
    assert "min_overlap_days" not in exact.plain_description


def test_a_description_that_is_not_text_is_refused_by_key_path() -> None:
    raw, data = _shipped()
    broken = copy.deepcopy(data)
    broken["rules"][0]["description"] = 7
    with pytest.raises(RuleError, match=r"rules\[0\]\.description"):
        rules_from_policy(broken, policy_digest(raw))
