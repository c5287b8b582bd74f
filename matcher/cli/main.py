"""`matcher`: the central service's command line, as its operator runs it.

Exit codes: 0 done; 1 the operation was refused or failed (a bad key file, an unknown user,
a missing policy, a database that does not answer); 2 usage error, or a data directory that is
not usable as given (not initialised, initialised already). Expected errors print one message
that says what was wrong and what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from sqlalchemy.exc import DBAPIError

from matcher.cli import admin, audit, keys, policies, purge, runs, setup, tokens
from matcher.cli._common import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    EXIT_FAILED,
    Context,
    HelpFormatter,
    exit_code_for,
)
from matcher.errors import MatcherError

__all__ = ["build_parser", "default_data_dir", "main"]

_EPILOG = f"""\
An operator's first day, in order:
  matcher init --data-dir /srv/crosscheck          (prints the admin token once)
  matcher keys reveal-public --data-dir /srv/crosscheck --out reveal.pub
  matcher companies add linbo --name "Linköpings Bostäder" --signing-key linbo-signing.pub
  matcher users add linbo-upload --role data_officer --company linbo
  matcher serve --data-dir /srv/crosscheck
  matcher policies activate policies/concurrent-tenancy.toml   (after legal review)
  matcher run --data-dir /srv/crosscheck           (after the companies have uploaded)
  matcher audit public-key --out crosscheck-log.pub (give it to the auditors)
Every command takes --data-dir D; the default is ${DATA_DIR_ENV} if set, else ./{DEFAULT_DATA_DIR}.
See docs/operator.md for the whole guide.
"""


def build_parser(data_dir: Path) -> argparse.ArgumentParser:
    """The parser; ``data_dir`` is the --data-dir default the caller read from the environment."""
    parser = argparse.ArgumentParser(
        prog="matcher",
        description=(
            "Crosscheck matcher: the central service that takes the companies' signed, "
            "pseudonymised uploads, finds concurrent tenancies across companies and shows each "
            "hit only to the companies it concerns."
        ),
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no tables or explanations (for scripts)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (setup, keys, admin, tokens, policies, runs, purge, audit):
        group.register(commands, data_dir)
    return parser


def default_data_dir(environ: Mapping[str, str]) -> Path:
    value = environ.get(DATA_DIR_ENV, "").strip()
    return Path(value) if value else DEFAULT_DATA_DIR


def _database_message(error: DBAPIError) -> str:
    # The driver's first line names host, port and the refusal; no row data is involved here.
    detail = str(error.orig).strip().splitlines()[0] if error.orig is not None else ""
    return (
        f"the database did not accept the request ({type(error.orig).__name__}: {detail}); "
        "check that it runs, that the URL in matcher.toml is right, and run "
        "`matcher db upgrade` if the schema is older than this matcher"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(default_data_dir(os.environ))
    args = parser.parse_args(argv)
    ctx = Context(
        out=Console(highlight=False, soft_wrap=True),
        err=Console(stderr=True, highlight=False, soft_wrap=True),
        quiet=bool(args.quiet),
        json=bool(getattr(args, "json", False)),
    )
    try:
        code: int = args.handler(args, ctx)
    except MatcherError as error:
        ctx.err.print("[bold red]error:[/] ", end="")
        ctx.err.print(str(error), markup=False)
        return exit_code_for(error)
    except DBAPIError as error:
        ctx.err.print("[bold red]error:[/] ", end="")
        ctx.err.print(_database_message(error), markup=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        ctx.err.print("interrupted")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
