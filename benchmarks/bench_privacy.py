"""Benchmark: the privacy harness (benchmarks/privacy) on 3 companies x 100k records.

Run: ``.venv/bin/python -m pytest benchmarks/bench_privacy.py --benchmark-only -s``. Prints the
attack table (the "before" table of benchmarks/README.md comes from ``python -m
benchmarks.privacy``); every finding goes into ``extra_info``. The benchmark does not assert
the pass/fail verdict: tests/privacy/test_attacks.py does that at 5k records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.privacy.finding import Finding
from benchmarks.privacy.packages import prepare
from benchmarks.privacy.run import failures, run_attacks, table

RECORDS = 100_000
COMPANIES = 3


def test_bench_privacy_attacks(benchmark: Any, tmp_path: Path) -> None:
    setting = prepare(tmp_path / "privacy", companies=COMPANIES, records=RECORDS, seed=1)
    findings: list[Finding] = []
    benchmark.pedantic(lambda: findings.extend(run_attacks(setting)), rounds=1, iterations=1)
    print("\n" + table(findings))
    benchmark.extra_info.update(
        {
            f"{f.attack}/{f.target}": {"rate": round(f.rate, 4), "baseline": round(f.baseline, 4)}
            for f in findings
        }
    )
    benchmark.extra_info["failing_reidentification"] = len(failures(findings))
    assert findings
