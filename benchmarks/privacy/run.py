"""The privacy harness: make packages with the real connector, run every attack, print a table.

    python -m benchmarks.privacy.run --records 100000 --companies 3 --seed 1

Exit status 1 when a re-identification attack beats its baseline by more than 1 percentage
point (see :mod:`benchmarks.privacy` for which attacks gate), 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.privacy.finding import MARGIN, Finding
from benchmarks.privacy.frequency import frequency_alignment
from benchmarks.privacy.graph import graph_matching
from benchmarks.privacy.lengths import length_channel
from benchmarks.privacy.linkage import extract_linkage
from benchmarks.privacy.packages import Setting, prepare
from benchmarks.privacy.patterns import pattern_mining
from benchmarks.privacy.singling import singling_out

__all__ = ["failures", "main", "run_attacks", "table"]


def run_attacks(setting: Setting, *, log: bool = False) -> list[Finding]:
    extracts = setting.extracts
    steps = [
        ("frequency alignment", lambda: frequency_alignment(extracts, setting.reference)),
        ("length side channel", lambda: length_channel(extracts)),
        ("pattern mining", lambda: pattern_mining(extracts)),
        ("graph matching", lambda: graph_matching(extracts)),
        (
            "linkage across extracts",
            lambda: extract_linkage(extracts[setting.later_index], setting.later),
        ),
        ("singling out", lambda: singling_out(extracts)),
    ]
    findings: list[Finding] = []
    for name, step in steps:
        start = time.perf_counter()
        findings.extend(step())
        if log:
            print(f"  {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return findings


def table(findings: Sequence[Finding]) -> str:
    """A markdown table: attack, target, rate, baseline, rate - baseline, gated, verdict."""
    lines = [
        "| attack | target | rate | baseline | rate - baseline | gates | verdict |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for f in findings:
        verdict = "FAIL" if f.fails else ("ok" if f.gated else "report")
        note = f" ({f.note})" if f.note else ""
        lines.append(
            f"| {f.attack} | {f.target}{note} | {f.rate:.2%} | {f.baseline:.2%} | "
            f"{f.gain:+.2%} | {'yes' if f.gated else 'no'} | {verdict} |"
        )
    return "\n".join(lines)


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.fails]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.privacy",
        description=(
            "Make synthetic packages with the real connector and attack them as the matcher's "
            "operator would. Exits 1 when a re-identification attack beats its baseline by more "
            f"than {MARGIN:.0%} (one percentage point)."
        ),
    )
    parser.add_argument("--records", type=int, default=100_000, help="records per company")
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the packages here instead of a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crosscheck-privacy-") as scratch:
        root = args.keep or Path(scratch)
        start = time.perf_counter()
        setting = prepare(root, companies=args.companies, records=args.records, seed=args.seed)
        print(f"  packages: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        findings = run_attacks(setting, log=True)
    print(table(findings))
    failed = failures(findings)
    if failed:
        print(
            f"\n{len(failed)} re-identification attack(s) beat their baseline by more than "
            f"{MARGIN:.0%}: " + ", ".join(f"{f.attack}/{f.target}" for f in failed)
        )
        return 1
    print("\nno re-identification attack beats its baseline by more than 1 percentage point")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
