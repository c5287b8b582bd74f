"""`connector check`, `connector pseudonymise` and `connector inspect`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from rich.table import Table

from connectors.cli._common import Context, iso_date, open_profile, profile_argument, steps
from connectors.errors import ConnectorError
from connectors.package import describe_package
from connectors.pipeline import DEFAULT_MAX_ERROR_RATE, check_and_report, pseudonymise_export
from connectors.report import Report

__all__ = ["register"]


_EXAMPLES = """\
examples:
  connector check export.csv --profile ws/connector.toml
  connector pseudonymise export.csv --profile ws/connector.toml --out pkg-2026-11 --as-of 2026-11-01
  connector pseudonymise --profile ws/connector.toml --out pkg-2026-11   (source = SQL query)

exit codes: 0 done; 1 data problems stopped it (read the report; nothing half-written is
left); 2 usage, profile or key-file error (the message says what to change).
"""


def _rate(text: str) -> float:
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("give a share between 0 and 1, e.g. 0.05 or 5%")
    return value


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "export",
        nargs="?",
        type=Path,
        metavar="EXPORT",
        help="the register export (CSV, XLSX or Parquet); omit when the profile reads from SQL",
    )
    profile_argument(parser)
    parser.add_argument(
        "--as-of",
        type=iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the date the extract describes (default: today); decides ages and centuries",
    )
    parser.add_argument(
        "--max-error-rate",
        type=_rate,
        default=DEFAULT_MAX_ERROR_RATE,
        metavar="SHARE",
        help="stop when more than this share of rows is bad (default 0.05 = 5%%)",
    )


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="validate an export; writes only the report",
        description=(
            "Read and validate an export with the workspace's profile. Nothing is written but "
            "the report (DIR/reports/check-*.json and .html, or --report)."
        ),
    )
    check.epilog = _EXAMPLES
    check.formatter_class = argparse.RawDescriptionHelpFormatter
    _export_arguments(check)
    check.add_argument("--report", type=Path, metavar="FOLDER", help="where to write the report")
    check.set_defaults(handler=_check)

    pseud = commands.add_parser(
        "pseudonymise",
        aliases=["pseudonymize"],
        help="validate, pseudonymise and write a signed package",
        description=(
            "Validate the export and, when no more than --max-error-rate of the rows are bad, "
            "write PKG/records.parquet, PKG/manifest.json (signed), PKG/report.json and "
            "PKG/report.html, and add the ref -> record id pairs to DIR/refs.parquet (local)."
        ),
    )
    pseud.epilog = _EXAMPLES
    pseud.formatter_class = argparse.RawDescriptionHelpFormatter
    _export_arguments(pseud)
    pseud.add_argument("--out", required=True, type=Path, metavar="PKG", help="new package folder")
    pseud.set_defaults(handler=_pseudonymise)

    inspect = commands.add_parser(
        "inspect",
        help="show what a package would send: columns, rows, manifest, plaintext check",
        description="Show exactly what would leave the company, and check no plaintext is inside.",
    )
    inspect.epilog = "example:\n  connector inspect pkg-2026-11\n"
    inspect.formatter_class = argparse.RawDescriptionHelpFormatter
    inspect.add_argument("package", type=Path, metavar="PKG")
    inspect.set_defaults(handler=_inspect)


def _summary(ctx: Context, report: Report) -> None:
    if ctx.quiet:
        return
    table = Table(
        title=f"Validation summary: {report.company_id}, as of {report.as_of}", show_header=False
    )
    table.add_column("what")
    table.add_column("value")
    detected = ", ".join(f"{k} {v}" for k, v in report.detected.items() if v is not None)
    table.add_row("detected", detected)
    table.add_row("rows read", str(report.rows_read))
    table.add_row("rows accepted", str(report.rows_accepted))
    for reason, n in report.rows_excluded.items():
        if n:
            table.add_row(f"excluded: {reason}", str(n))
    table.add_row("warnings (value dropped)", str(report.warnings))
    table.add_row("error rate", f"{report.error_rate:.2%} (limit {report.max_error_rate:.2%})")
    ctx.out.print(table)
    for problem in report.problems[:10]:
        ctx.out.print(
            f"  row {problem['row']}, column {problem['column']}: {problem['reason']} "
            f"(expected {problem['expected']})",
            markup=False,
        )
    if report.problems_total > 10:
        ctx.out.print(f"  ... {report.problems_total - 10} more in the report", markup=False)


def _as_of(args: argparse.Namespace) -> date:
    return args.as_of if args.as_of is not None else date.today()


def _check(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    with steps(ctx, ("reading", "normalising")) as progress:
        result, json_path, html_path = check_and_report(
            args.export,
            profile,
            as_of=_as_of(args),
            max_error_rate=args.max_error_rate,
            report_folder=args.report,
            progress=progress,  # type: ignore[arg-type]
        )
    report = result.report
    _summary(ctx, report)
    ctx.say(f"Report: {json_path} and {html_path}")
    if report.status != "ok":
        ctx.err.print(f"error: {report.stop_reason}", markup=False, highlight=False)
        return 1
    ctx.say("The export passes; `connector pseudonymise` would write a package from it.")
    return 0


def _pseudonymise(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    names = ("reading", "normalising", "pseudonymising", "writing package")
    with steps(ctx, names) as progress:
        result = pseudonymise_export(
            args.export,
            profile,
            args.out,
            as_of=_as_of(args),
            max_error_rate=args.max_error_rate,
            progress=progress,  # type: ignore[arg-type]
        )
    _summary(ctx, result.report)
    manifest = result.manifest
    ctx.say(
        f"Package {result.package}: {manifest.row_count} records, extract {manifest.extract_id}, "
        f"epoch {manifest.matching_key_epoch}. Check it with `connector inspect {result.package}`."
    )
    return 0


def _inspect(args: argparse.Namespace, ctx: Context) -> int:
    if not args.package.exists():
        raise ConnectorError(
            f"no package folder at {args.package}: it is missing. Give the folder that "
            "`connector pseudonymise --out` wrote"
        )
    if not args.package.is_dir():
        raise ConnectorError(f"{args.package} is a file; give the package folder")
    summary = describe_package(args.package)
    manifest = summary.manifest
    table = Table(title=f"What {args.package} sends to the matcher")
    table.add_column("column")
    table.add_column("type")
    for name, dtype in summary.columns:
        table.add_row(name, dtype)
    ctx.out.print(table)
    ctx.out.print(f"rows                    {summary.row_count}", markup=False)
    for key in (
        "contract_version",
        "company_id",
        "extract_id",
        "as_of",
        "created_at",
        "matching_key_epoch",
        "reveal_key_fingerprint",
        "reveal_kem",
        "encoding_digest",
        "records_sha256",
    ):
        ctx.out.print(f"{key:<24}{getattr(manifest, key)}", markup=False)
    ctx.out.print(
        f"{'signature':<24}{'present' if manifest.signature else 'MISSING'}", markup=False
    )
    if summary.plaintext_findings:
        ctx.out.print("[bold red]Readable data found - do not upload this package:[/]")
        for finding in summary.plaintext_findings:
            ctx.out.print(f"  - {finding}", markup=False)
        return 1
    ctx.out.print(
        "No plaintext inside: identities are keyed tokens, Bloom filters and blocking keys; "
        "revealable fields are sealed to the matcher's reveal key.",
        markup=False,
    )
    return 0
