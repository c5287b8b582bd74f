"""What every `connector` subcommand shares: the consoles, --quiet, progress, dates."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from connectors.errors import ProfileError
from connectors.profile import Profile, load_profile

__all__ = ["Context", "iso_date", "open_profile", "profile_argument", "steps"]


@dataclass(frozen=True)
class Context:
    out: Console
    err: Console
    quiet: bool

    def say(self, message: str) -> None:
        if not self.quiet:
            self.out.print(message, markup=False)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        required=True,
        type=Path,
        metavar="DIR/connector.toml",
        help="the workspace's profile, written by `connector init`",
    )


def open_profile(path: Path) -> Profile:
    if path.is_dir():
        path = path / "connector.toml"
    if not path.exists():
        raise ProfileError(
            f"no profile at {path}: create a workspace with `connector init DIR --company ID "
            "--matching-key FILE` and pass --profile DIR/connector.toml"
        )
    return load_profile(path)


@contextmanager
def steps(ctx: Context, names: tuple[str, ...]) -> Iterator[object]:
    """A progress bar over the named steps; yields a callback taking the step that starts."""
    if ctx.quiet:
        yield lambda step: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=ctx.err,
        transient=True,
    )
    with progress:
        task = progress.add_task("starting", total=len(names))
        seen: list[str] = []

        def advance(step: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(step)
            progress.update(task, description=step)

        yield advance
        progress.update(task, completed=len(names))
