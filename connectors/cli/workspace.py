"""`connector init` and `connector resolve`: the company's workspace (profile, keys, refs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from connectors.cli._common import Context, open_profile, profile_argument
from connectors.errors import ProfileError
from connectors.extract import SourceOptions
from connectors.pipeline import resolve_refs
from connectors.protection import looks_like_protection_flag
from connectors.suggest import MappingSuggestion
from connectors.workspace import PROFILE_FILE, Suggested, create_workspace, suggest_from_export

__all__ = ["register"]


def register(commands: Any) -> None:
    init = commands.add_parser(
        "init",
        help="create a workspace: profile, company-local key, signing key pair",
        description=(
            "Create a workspace folder with connector.toml (your column mapping and formats), "
            "a company-local key (for refs), an Ed25519 signing key pair and a copy of the "
            "matching key. With --sample, the export's header is read and a mapping is "
            "suggested; check it before the first real run."
        ),
    )
    init.add_argument("dir", type=Path, metavar="DIR", help="the workspace folder (new or empty)")
    init.add_argument("--company", required=True, metavar="ID", help="your company id, e.g. linbo")
    init.add_argument(
        "--matching-key", required=True, type=Path, metavar="FILE", help="the shared matching key"
    )
    init.add_argument(
        "--sample", type=Path, metavar="EXPORT", help="an export to suggest the mapping from"
    )
    init.add_argument(
        "--sheet",
        metavar="NAME",
        help="XLSX sheet of the sample (default: the sheet that looks most like a register)",
    )
    init.add_argument(
        "--sql-url",
        metavar="URL",
        help="instead of --sample: the register database (SQLAlchemy URL, e.g. "
        "mysql+pymysql://user@host/db)",
    )
    init.add_argument(
        "--sql-query", metavar="SQL", help="with --sql-url: the query (or view) of the register"
    )
    init.add_argument(
        "--matcher-url",
        default="http://127.0.0.1:8000",
        metavar="URL",
        help="the matcher's address (default http://127.0.0.1:8000)",
    )
    init.add_argument(
        "--no-protected-identities",
        metavar="CONFIRMED_BY",
        help="state that the export holds no protected identities (skyddad identitet) and who "
        'checked it, e.g. "Anna Berg, registrator, 2026-12-03"; only for an export without a '
        "protection-flag column",
    )
    init.add_argument(
        "--report-language",
        choices=("sv", "en"),
        default="sv",
        help="language of report.html (default sv)",
    )
    init.add_argument(
        "--reveal-key",
        type=Path,
        metavar="PEM",
        help="the matcher's reveal public key (from `matcher keys reveal-public`); pinned by "
        "fingerprint",
    )
    init.epilog = (
        "examples:\n"
        "  connector init ws --company linbo --matching-key matching.key --sample export.csv \\\n"
        "      --matcher-url https://matcher.example.se --reveal-key reveal.pub\n"
        "  connector init ws --company linbo --matching-key matching.key \\\n"
        '      --sql-url "mysql+pymysql://reader@db/register" --sql-query "SELECT * FROM v"\n'
    )
    init.formatter_class = argparse.RawDescriptionHelpFormatter
    init.set_defaults(handler=_init)

    resolve = commands.add_parser(
        "resolve",
        help="print ref,record_id for refs of your own records (from a hit)",
        description=(
            "Look up your own record ids for refs named in hits, from the local ref table "
            "that `connector pseudonymise` keeps. Refs of other companies mean nothing here."
        ),
    )
    resolve.add_argument("refs", nargs="+", metavar="REF")
    profile_argument(resolve)
    resolve.epilog = "example:\n  connector resolve 3f9c0a... --profile ws/connector.toml\n"
    resolve.formatter_class = argparse.RawDescriptionHelpFormatter
    resolve.set_defaults(handler=_resolve)


def _init(args: argparse.Namespace, ctx: Context) -> int:
    suggested: Suggested | None = None
    source = SourceOptions(sheet=args.sheet)
    if (args.sql_url is None) != (args.sql_query is None):
        raise ProfileError("--sql-url and --sql-query go together: give both, or neither")
    if args.sql_url is not None:
        if args.sample is not None:
            raise ProfileError("give either --sample or --sql-url/--sql-query, not both")
        source = SourceOptions(format="sql", sql_url=args.sql_url, sql_query=args.sql_query)
        suggested = suggest_from_export(None, source)
    elif args.sample is not None:
        if (args.dir / PROFILE_FILE).exists():
            suggested = None  # create_workspace refuses it before anything is read
        else:
            suggested = suggest_from_export(args.sample, source)
            if suggested.sheets:
                ctx.say(f"Sheet {suggested.source.sheet!r} of {args.sample} holds the register.")
            if suggested.source.header_row > 1:
                ctx.say(
                    f"The header of {args.sample} is on row {suggested.source.header_row}; "
                    "the profile says so."
                )
    made = create_workspace(
        args.dir,
        company_id=args.company,
        matching_key=args.matching_key,
        matcher_url=args.matcher_url,
        suggested=suggested,
        source=source,
        reveal_key=args.reveal_key,
        no_protected_identities=args.no_protected_identities,
        report_language=args.report_language,
    )
    suggestion = suggested.suggestion if suggested is not None else None

    ctx.out.print(f"Workspace {made.folder} for company {args.company}", markup=False)
    ctx.out.print(f"  matching key epoch  {made.matching_key_epoch}", markup=False)
    ctx.out.print(f"  signing key         {made.signing_fingerprint}", markup=False)
    if made.reveal_fingerprint:
        ctx.out.print(f"  reveal key pinned   {made.reveal_fingerprint}", markup=False)
    if suggestion is not None:
        if not ctx.quiet:
            _show_suggestion(ctx, suggestion)
        elif suggestion.missing_required:
            ctx.err.print(
                "required fields without a column: " + ", ".join(suggestion.missing_required),
                markup=False,
            )
    else:
        ctx.out.print(
            f"No --sample given: fill in [mapping] in {made.profile} by hand.",
            markup=False,
        )
    if (
        suggestion is not None
        and "protected_identity" not in suggestion.mapping
        and args.no_protected_identities is None
    ):
        ctx.err.print(
            "warning: no column of the sample is a protection flag (skyddad identitet); check "
            "and pseudonymise refuse to run until you map it, or state under [constants] that "
            "the export holds none (or run init with --no-protected-identities NAME)",
            markup=False,
        )
    ctx.out.print(
        "\nSend this public key to the matcher's operator; they register it with\n"
        f"  matcher companies add {args.company} --name NAME --signing-key signing.pub\n"
        "and read the fingerprint above to them on the phone: `matcher companies list` shows\n"
        "the same one (`connector keys fingerprint --profile DIR` prints it again).\n",
        markup=False,
    )
    ctx.out.print((made.folder / "signing.pub").read_text(encoding="ascii"), markup=False)
    return 0


def _show_suggestion(ctx: Context, suggestion: MappingSuggestion) -> None:
    table = Table(title="Suggested mapping", show_lines=False)
    table.add_column("column in your export")
    table.add_column("canonical field")
    table.add_column("confidence", justify="right")
    for column in suggestion.columns:
        if column.field is None and looks_like_protection_flag(column.column):
            field = "[bold red]protection flag NOT MAPPED: map it[/]"
        else:
            field = column.field or "(stays local)"
        table.add_row(column.column, field, f"{column.confidence:.0%}" if column.field else "")
    ctx.out.print(table)
    for field, formats in suggestion.date_formats.items():
        ctx.out.print(f"  {field}: date format {', '.join(formats)}", markup=False)
    if suggestion.unmapped:
        ctx.out.print(
            "Unmapped columns (never leave your company): " + ", ".join(suggestion.unmapped),
            markup=False,
        )
    if suggestion.missing_required:
        ctx.out.print(
            "[bold red]Required fields without a column:[/] "
            + ", ".join(suggestion.missing_required)
            + r" - map them in \[mapping] before running."
        )
    if suggestion.checks:
        ctx.out.print("What to check:", markup=False)
        for line in suggestion.checks:
            ctx.out.print(f"  - {line}", markup=False)
    ctx.out.print(
        "Then run `connector check EXPORT --profile DIR/connector.toml` and read its report.",
        markup=False,
    )


def _resolve(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    unknown = 0
    ctx.out.print("ref,record_id", markup=False)
    for ref, record_id in resolve_refs(profile, list(args.refs)):
        ctx.out.print(f"{ref},{record_id or ''}", markup=False)
        unknown += record_id is None
    if unknown:
        ctx.err.print(
            f"{unknown} ref(s) not found in this workspace's ref table: they belong to another "
            "company or to an extract pseudonymised elsewhere",
        )
        return 1
    return 0
