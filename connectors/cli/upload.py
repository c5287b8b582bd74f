"""`connector upload`: send a package to the matcher."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from connectors.cli._common import Context, open_profile, profile_argument
from connectors.upload import TOKEN_VARIABLE, read_token, upload_package

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "upload",
        help="send a package to the matcher (streamed, retried, safe to repeat)",
        description=(
            "Upload PKG to the matcher named in the profile. The API token comes from the "
            f"environment variable {TOKEN_VARIABLE}, else from token_file under [matcher]. "
            "Connection errors and server errors are retried with backoff; uploading the same "
            "package again changes nothing and returns the same extract id. A newer extract "
            "replaces your company's previous one at the matcher."
        ),
    )
    parser.add_argument("package", type=Path, metavar="PKG")
    profile_argument(parser)
    parser.add_argument(
        "--timeout", type=float, default=300.0, metavar="SECONDS", help="per request (default 300)"
    )
    if not parser.epilog:
        parser.epilog = "example:\n  connector upload pkg-2026-11 --profile ws/connector.toml\n"
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(handler=_upload)


def _upload(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    token = read_token(profile.token_file)
    timeout = httpx.Timeout(args.timeout, connect=10.0)
    with httpx.Client(base_url=profile.matcher_url, timeout=timeout) as client:
        if ctx.quiet:
            result = upload_package(
                args.package, client=client, token=token, signing_key=profile.signing_key_path
            )
        else:
            bar = Progress(
                TextColumn("uploading"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=ctx.err,
                transient=True,
            )
            with bar:
                task = bar.add_task("upload", total=None)

                def advance(sent: int, total: int) -> None:
                    bar.update(task, completed=sent, total=total)

                result = upload_package(
                    args.package,
                    client=client,
                    token=token,
                    signing_key=profile.signing_key_path,
                    progress=advance,
                )
    if result.created:
        ctx.out.print(
            f"uploaded: extract {result.extract_id}, {result.rows} records; it is now your "
            "company's active extract",
            markup=False,
        )
    else:
        ctx.out.print(
            f"already at the matcher: extract {result.extract_id} (nothing changed)", markup=False
        )
    return 0
