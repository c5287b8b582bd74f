"""The privacy harness at 5,000 records per company: it must catch a weak encoding, and (once
contract version 2 lands) must find the shipped encoding within 1 pp of every baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.privacy.finding import MARGIN, Finding
from benchmarks.privacy.packages import Setting, prepare
from benchmarks.privacy.run import failures, run_attacks, table
from benchmarks.privacy.weak import weaken

RECORDS = 5_000


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Setting:
    root: Path = tmp_path_factory.mktemp("privacy")
    return prepare(root, companies=3, records=RECORDS, seed=3)


@pytest.fixture(scope="module")
def shipped(setting: Setting) -> list[Finding]:
    return run_attacks(setting)


def _by(findings: list[Finding], attack: str) -> list[Finding]:
    return [f for f in findings if f.attack == attack]


def test_harness_fails_a_weak_encoding(setting: Setting) -> None:
    findings = run_attacks(weaken(setting))
    print(table(findings))
    assert failures(findings), "a naive encoding must fail the harness"
    lengths = _by(findings, "length")
    assert len(lengths) == 2
    for finding in lengths:
        assert finding.rate > finding.baseline + 5 * MARGIN, finding


def test_linkage_and_singling_are_reported_not_gated(shipped: list[Finding]) -> None:
    reported = [f for f in shipped if f.kind in ("linkage", "singling")]
    assert reported and not any(f.fails for f in reported)
    (ref,) = [f for f in _by(shipped, "linkage") if f.target == "ref"]
    assert 0.0 <= ref.rate <= 1.0


def test_shipped_encoding_is_within_1pp_of_every_baseline(shipped: list[Finding]) -> None:
    print(table(shipped))
    assert not failures(shipped), [
        f"{f.attack}/{f.target}: {f.gain:+.2%}" for f in failures(shipped)
    ]
