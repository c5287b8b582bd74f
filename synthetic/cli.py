"""`crosscheck-synth` (or `python -m synthetic`): synthetic tenancy registers for demos, tests
and benchmarks. Exit codes: 0 written; 2 a request it can not satisfy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthetic import SyntheticError
from synthetic import registers as synthetic

__all__ = ["build_parser", "main"]


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosscheck-synth",
        description=(
            "Write one synthetic register export per company, in differing realistic formats "
            "(semicolon CSV in Windows-1252 with Swedish headers, XLSX, UTF-8 CSV with English "
            "headers), and truth.csv naming every planted case. Seeded and reproducible. "
            "No real person is in it."
        ),
        epilog="example:\n  crosscheck-synth --out registers --companies 3 --records 2000 --seed 7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR")
    parser.add_argument("--companies", type=int, default=2, metavar="N", help="default 2")
    parser.add_argument(
        "--records", type=int, default=1000, metavar="R", help="rows per company (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="default 1")
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        default=date(2026, 11, 1),
        metavar="YYYY-MM-DD",
        help="the extract date the registers describe (default 2026-11-01)",
    )
    parser.add_argument(
        "--csv-only",
        action="store_true",
        help="write every company as CSV (fast, for millions of rows; no XLSX writer needed)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or listing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.companies < 2 or args.records < 10:
        err.print("error: --companies must be at least 2 and --records at least 10")
        return 2
    total = args.companies * args.records
    try:
        with Progress(
            TextColumn("writing registers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=args.quiet,
        ) as bar:
            task = bar.add_task("rows", total=total)
            result = synthetic.generate(
                args.out,
                companies=args.companies,
                records=args.records,
                seed=args.seed,
                as_of=args.as_of,
                fast_formats=args.csv_only,
                progress=lambda rows: bar.advance(task, rows),
            )
    except SyntheticError as error:
        err.print(f"error: {error}", markup=False)
        return 2
    if not args.quiet:
        for company in result.companies:
            out.print(
                f"{company.company_id:<10} {company.format:<5} {company.export}", markup=False
            )
        out.print(f"truth      csv   {result.truth}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
