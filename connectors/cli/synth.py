"""`connector synth`: synthetic tenancy registers for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors import synthetic
from connectors.cli._common import Context, iso_date

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "synth",
        help="write synthetic registers for N companies, with planted cases",
        description=(
            "Write one synthetic register export per company, in differing realistic formats "
            "(semicolon CSV in Windows-1252 with Swedish headers, XLSX, UTF-8 CSV with English "
            "headers), and truth.csv naming every planted case. Seeded and reproducible. "
            "No real person is in it."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR")
    parser.add_argument("--companies", type=int, default=2, metavar="N", help="default 2")
    parser.add_argument(
        "--records", type=int, default=1000, metavar="R", help="rows per company (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="default 1")
    parser.add_argument(
        "--as-of",
        type=iso_date,
        default=date(2026, 11, 1),
        metavar="YYYY-MM-DD",
        help="the extract date the registers describe (default 2026-11-01)",
    )
    parser.add_argument(
        "--csv-only",
        action="store_true",
        help="write every company as CSV (fast, for millions of rows)",
    )
    parser.set_defaults(handler=_synth)


def _synth(args: argparse.Namespace, ctx: Context) -> int:
    if args.companies < 2 or args.records < 10:
        ctx.err.print("error: --companies must be at least 2 and --records at least 10")
        return 2
    total = args.companies * args.records
    with Progress(
        TextColumn("writing registers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.err,
        transient=True,
        disable=ctx.quiet,
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
    for company in result.companies:
        ctx.say(f"{company.company_id:<10} {company.format:<5} {company.export}")
    ctx.say(f"truth      csv   {result.truth}")
    return 0
