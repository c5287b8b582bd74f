"""`matcher purge`: apply the policies' retention now (``matcher serve`` also does it hourly).

Expires pending reveal requests past their deadline, destroys superseded extracts' data keys and
blobs, deletes finished requests, hits without a case and closed cases past their retention.
Prints what it did as counts; one audit entry records it.
"""

from __future__ import annotations

import argparse
import getpass
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matcher.actions.purge import run_purge
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    data_dir_argument,
    open_engine,
    open_settings,
)
from matcher.store.audit import system_actor
from matcher.store.blobs import BlobStore

__all__ = ["register"]

_EXAMPLES = """\
examples:
  matcher purge --data-dir /srv/crosscheck
  matcher purge --json
Retention limits come from each policy's [retention] table; see docs/operator.md.
"""


def register(commands: Any, data_dir: Path) -> None:
    purge = commands.add_parser(
        "purge",
        help="apply the policies' retention now (expire, destroy keys, delete old hits)",
        description=(
            "Apply the retention of the policies: pending reveal requests past their deadline "
            "expire; superseded extracts older than retention.superseded_extracts_days lose "
            "their wrapped data key and blob (their sealed fields become unreadable for good); "
            "finished reveal requests older than retention.disclosures_days, hits without a "
            "case older than retention.hits_days and closed cases older than "
            "retention.closed_cases_days are deleted. The audit log is kept and still verifies. "
            "`matcher serve` runs the same purge every hour."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(purge, data_dir)
    add_output_options(purge, json_option=True)
    purge.set_defaults(handler=_purge)


def _operator() -> str:
    # The console has no API token; the audit entry names the account that ran the purge.
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


def _purge(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine:
        summary = run_purge(
            engine, BlobStore(settings.blob_dir), datetime.now(UTC), system_actor(_operator())
        )
    if ctx.json:
        ctx.emit_json(asdict(summary))
        return 0
    ctx.out.print(
        f"purged: {summary.requests_expired} requests expired, "
        f"{summary.extracts_purged} superseded extracts made unreadable "
        f"({summary.blobs_deleted} blob files deleted), {summary.requests_deleted} finished "
        f"requests and {summary.hits_deleted} hits deleted",
        markup=False,
    )
    return 0
