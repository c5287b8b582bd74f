"""What every `matcher` subcommand shares: consoles, --quiet/--json, --data-dir, exit codes.

Configuration is read once, here and in ``main``: ``--data-dir`` (default from the environment
variable ``CROSSCHECK_DATA_DIR``, else ``./matcher-data``) and the settings file inside it.
Handlers receive the parsed arguments and a :class:`Context` and call the service library.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from matcher.core.audit import Actor
from matcher.errors import ConfigError, InvalidInput, MatcherError
from matcher.settings import Settings, load_settings
from matcher.store.database import create_database_engine

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Context",
    "HelpFormatter",
    "add_output_options",
    "console_actor",
    "data_dir_argument",
    "exit_code_for",
    "iso_date",
    "open_engine",
    "open_settings",
    "printable_database_url",
    "read_text_file",
]

DATA_DIR_ENV = "CROSSCHECK_DATA_DIR"
DEFAULT_DATA_DIR = Path("matcher-data")

EXIT_OK = 0
EXIT_FAILED = 1  # the operation was refused or failed: bad input file, unknown user, no policy
EXIT_USAGE = 2  # the command line or the data directory is unusable: fix it and run again


@dataclass(frozen=True)
class Context:
    """The consoles and output switches of one invocation."""

    out: Console
    err: Console
    quiet: bool
    json: bool

    def say(self, message: str) -> None:
        """Human prose: suppressed by --quiet and by --json (stdout is the JSON document)."""
        if not (self.quiet or self.json):
            self.out.print(message, markup=False)

    def emit_json(self, value: Any) -> None:
        # print(), not rich: rich would wrap or highlight, and scripts parse this.
        self.out.file.write(json.dumps(value, indent=2, default=_json_default) + "\n")
        self.out.file.flush()

    def warn(self, message: str) -> None:
        self.err.print("[bold yellow]warning:[/] ", end="")
        self.err.print(message, markup=False)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose to the terminal but keeps indented lines (examples) exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                blocks.append(super(HelpFormatter, self)._fill_text(" ".join(prose), width, indent))
                prose.clear()

        for line in text.splitlines():
            if line.startswith(" ") or not line.strip():
                flush()
                blocks.append(indent + line)
            else:
                prose.append(line.strip())
        flush()
        return "\n".join(blocks)


def console_actor() -> Actor:
    """Who the audit log names for console commands: the login account, as admin."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        login = "unknown"
    return Actor(id=f"cli:{login}", role="admin", company=None)


def exit_code_for(error: MatcherError) -> int:
    """The one mapping from the matcher's errors to exit codes.

    An unusable data directory (not initialised, initialised already, key file missing) is a
    setup problem like a usage error: 2. Everything else the library refuses (a bad key file,
    an unknown user, a missing policy, a failed run) is a failed operation: 1.
    """
    return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def data_dir_argument(parser: argparse.ArgumentParser, default: Path) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        metavar="D",
        help=(
            f"the matcher's data directory (default: ${DATA_DIR_ENV} if set, else "
            f"./{DEFAULT_DATA_DIR}; now {default})"
        ),
    )


def add_output_options(parser: argparse.ArgumentParser, *, json_option: bool) -> None:
    """--quiet (and --json) after the subcommand too; SUPPRESS keeps a top-level -q in force."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no tables or explanations (for scripts)",
    )
    if json_option:
        parser.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print one JSON document on stdout instead of tables",
        )


def open_settings(data_dir: Path) -> Settings:
    return load_settings(data_dir.resolve())


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    engine = create_database_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def printable_database_url(url: str) -> str:
    """The database URL without its password: terminals end up in screenshots and tickets."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database URL)"


def read_text_file(path: Path, what: str) -> str:
    """Read a small text file the operator named, or say clearly why it can not be used."""
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {path} is a directory; name the file itself") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path} is not a PEM text file") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path} can not be read ({exc.strerror})") from None
