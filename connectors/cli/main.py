"""`connector`: the housing-company side of Crosscheck, as a data officer runs it.

Exit codes: 0 done; 1 data problems stopped it (nothing half-written is left); 2 usage,
profile or key-file error. Messages say what was wrong, what was expected and what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from rich.console import Console

from connectors.cli import extract, keys, token, ui, upload, witness, workspace
from connectors.cli._common import Context
from connectors.errors import ConnectorError
from contract import CONTRACT_VERSION

__all__ = ["main"]

_EPILOG = """\
A data officer's round, in order:
  connector keys new-matching-key --out matching.key   (once, by the group's key custodian)
  connector init ws --company linbo --matching-key matching.key --sample export.csv
  connector check export.csv --profile ws/connector.toml
  connector pseudonymise export.csv --profile ws/connector.toml --out pkg-2026-11
  connector inspect pkg-2026-11
See docs/data-officer.md for the whole guide.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connector",
        description=(
            "Crosscheck connector: turn your tenancy-register export into a signed, "
            "pseudonymised package for the matcher. No plaintext leaves your company."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or tables (for scripts)"
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (keys, workspace, extract, upload, token, witness, ui):
        group.register(commands)
    _quiet_everywhere(commands)
    return parser


def _version() -> str:
    try:
        number = metadata.version("crosscheck")
    except metadata.PackageNotFoundError:
        number = "unknown"
    return f"connector (crosscheck) {number}, wire contract {CONTRACT_VERSION}"


def _quiet_everywhere(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`-q` is accepted after the subcommand too (`connector check ... --quiet`)."""
    for sub in set(commands.choices.values()):
        # SUPPRESS: a subcommand without -q must not reset a -q given before it.
        sub.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="no progress bars or tables (for scripts)",
        )
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                _quiet_everywhere(action)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(
        out=Console(highlight=False, soft_wrap=True),
        err=Console(stderr=True, highlight=False, soft_wrap=True),
        quiet=args.quiet,
    )
    try:
        code: int = args.handler(args, ctx)
    except ConnectorError as error:
        ctx.err.print("[bold red]error:[/] ", end="")
        ctx.err.print(str(error), markup=False)
        return error.exit_code
    except KeyboardInterrupt:
        ctx.err.print("interrupted; nothing half-written was left behind")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
