"""`connector init` and `connector resolve`: the company's workspace (profile, keys, refs)."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.table import Table

from connectors import pseudonymise
from connectors.cli._common import Context, open_profile, profile_argument
from connectors.errors import ExportError, ProfileError
from connectors.extract import SourceOptions, read_sample, sheet_names
from connectors.pipeline import resolve_refs
from connectors.profile import render_profile
from connectors.protection import looks_like_protection_flag
from connectors.suggest import MappingSuggestion, header_row_in, suggest_mapping
from contract import pem_fingerprint

__all__ = ["register"]

PROFILE_FILE = "connector.toml"


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
    folder: Path = args.dir
    if (folder / PROFILE_FILE).exists():
        raise ProfileError(
            f"{folder} already holds a workspace ({PROFILE_FILE}); its keys are never "
            "overwritten. Choose another folder, or edit the existing profile"
        )
    if folder.exists() and not folder.is_dir():
        raise ProfileError(f"{folder} is a file; give a folder for the workspace")
    matching_key = pseudonymise.load_matching_key(args.matching_key)

    suggestion: MappingSuggestion | None = None
    source = SourceOptions(sheet=args.sheet)
    if (args.sql_url is None) != (args.sql_query is None):
        raise ProfileError("--sql-url and --sql-query go together: give both, or neither")
    if args.sql_url is not None:
        if args.sample is not None:
            raise ProfileError("give either --sample or --sql-url/--sql-query, not both")
        source = SourceOptions(format="sql", sql_url=args.sql_url, sql_query=args.sql_query)
        suggestion, source = _suggest(ctx, None, source)
    elif args.sample is not None:
        if not args.sample.exists():
            raise ExportError(f"sample export {args.sample} not found")
        candidates = [source]
        if args.sheet is None and args.sample.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            candidates = [SourceOptions(sheet=name) for name in sheet_names(args.sample)]
        results = [_suggest(ctx, args.sample, option) for option in candidates]
        # The register is the sheet whose header names the most required fields, then fields.
        suggestion, source = max(
            results,
            key=lambda r: (-len(r[0].missing_required), len(r[0].mapping)),
        )
        if len(results) > 1:
            ctx.say(f"Sheet {source.sheet!r} of {args.sample} holds the register.")
        if source.header_row > 1:
            ctx.say(
                f"The header of {args.sample} is on row {source.header_row}; the profile says so."
            )

    if args.no_protected_identities is not None and suggestion is not None:
        flag = suggestion.mapping.get("protected_identity")
        if flag is not None:
            raise ProfileError(
                f'--no-protected-identities, but column "{flag}" of the sample is a protection '
                "flag; leave the option out: the flag column is mapped and its rows excluded"
            )
    fingerprint = None
    if args.reveal_key is not None:
        fingerprint = pem_fingerprint(args.reveal_key.read_bytes())

    folder.mkdir(parents=True, exist_ok=True)
    pseudonymise.write_matching_key(folder / "matching.key", matching_key)
    pseudonymise.write_local_key(folder / "local.key", pseudonymise.new_local_key())
    private_pem, public_pem = pseudonymise.new_signing_key()
    pseudonymise.write_secret_file(folder / "signing.key", private_pem)
    (folder / "signing.pub").write_bytes(public_pem)
    if args.reveal_key is not None:
        shutil.copyfile(args.reveal_key, folder / "reveal.pub")

    text = render_profile(
        company_id=args.company,
        matcher_url=args.matcher_url,
        mapping=dict(suggestion.mapping) if suggestion else {},
        date_formats={k: list(v) for k, v in suggestion.date_formats.items()} if suggestion else {},
        source=source,
        reveal_key_fingerprint=fingerprint,
        national_id_scheme=suggestion.national_id_scheme if suggestion else "se-personnummer",
        protected_identity_confirmed_by=args.no_protected_identities,
        report_language=args.report_language,
    )
    (folder / PROFILE_FILE).write_text(text, encoding="utf-8")

    ctx.out.print(f"Workspace {folder} for company {args.company}", markup=False)
    ctx.out.print(f"  matching key epoch  {matching_key.epoch}", markup=False)
    ctx.out.print(f"  signing key         {pem_fingerprint(public_pem)}", markup=False)
    if fingerprint:
        ctx.out.print(f"  reveal key pinned   {fingerprint}", markup=False)
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
            f"No --sample given: fill in [mapping] in {folder / PROFILE_FILE} by hand.",
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
    ctx.out.print(public_pem.decode("ascii"), markup=False)
    return 0


def _suggest(
    ctx: Context, path: Path | None, source: SourceOptions
) -> tuple[MappingSuggestion, SourceOptions]:
    """The suggestion for one sheet (or file, or query), with title rows above the header
    skipped; and the source options that read it."""
    sample = read_sample(path, source)
    header_row = header_row_in(sample)
    if header_row is None and sample.detected.format == "csv" and len(sample.frame.columns) <= 2:
        # Title rows above the header can hide the delimiter from the sniffer: try each.
        for delimiter in (";", "\t", ",", "|"):
            attempt = replace(source, delimiter=delimiter)
            header_row = header_row_in(read_sample(path, attempt))
            if header_row is not None:
                source = attempt
                break
    if header_row is not None:
        source = replace(source, header_row=header_row)
        sample = read_sample(path, source)
    detected = replace(
        source, sheet=sample.detected.sheet or source.sheet, header_row=sample.detected.header_row
    )
    return suggest_mapping(sample), detected


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
