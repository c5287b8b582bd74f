"""`matcher run` and `matcher worker`: matching runs from the console.

``matcher run`` queues the same run as ``POST /v1/runs`` and waits for its end: it works the
queue itself unless a running ``serve`` or ``matcher worker`` holds the runs lease, then that
process works it. The result is printed as the run id, the policy it used (id, version, digest)
and the number of hits per rule and strength band. ``matcher worker`` works queued runs and the
retention purge without serving HTTP (``run_worker = false`` in matcher.toml leaves them to it).
"""

from __future__ import annotations

import argparse
import getpass
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from matcher.actions.runs import SHIPPED_POLICY, RunSummary
from matcher.actions.worker import Worker, start_run
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    data_dir_argument,
    iso_date,
    open_engine,
    open_settings,
)
from matcher.errors import NoActivePolicy

__all__ = ["register"]

_BANDS = ("strong", "review")

_EXAMPLES = """\
examples:
  matcher run --data-dir /srv/crosscheck
  matcher run --data-dir /srv/crosscheck --policy policies/concurrent-tenancy.toml
  matcher run --run-date 2026-11-30 --json
Without --policy the run uses the active policy (`matcher policies activate FILE`); with
--policy FILE it first activates FILE (checked, recorded, audited), then runs.
"""


def register(commands: Any, data_dir: Path) -> None:
    run = commands.add_parser(
        "run",
        help="match the latest extract of every company and store the hits",
        description=(
            "Run the matching rules of the policy over the latest extract of every registered "
            "company (never a selection), store the hits and print the run id, the policy "
            "(id, version and digest, recorded with every hit) and the hits per rule and band. "
            "Hits still present from earlier runs keep their identity and review status; hits "
            "that disappeared are marked resolved_by_data. A run refuses to start without a "
            "active policy."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(run, data_dir)
    run.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help=(
            "activate this policy file first (like `matcher policies activate FILE`), then run "
            "it; default: run the policy that is active"
        ),
    )
    run.add_argument(
        "--run-date",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="the date open-ended contracts run to (default: today, UTC)",
    )
    add_output_options(run, json_option=True)
    run.set_defaults(handler=_run)

    worker = commands.add_parser(
        "worker",
        help="work queued runs and the retention purge (without serving HTTP)",
        description=(
            "Work the queued matching runs one at a time and apply the policies' retention "
            "every purge_interval_seconds, until interrupted (Ctrl-C). Any number of workers "
            "and `matcher serve` processes may run at once: a database lease lets exactly one "
            "work the runs and one purge per interval. A run left running by a worker that was "
            "killed is marked failed (interrupted) once its lease has expired "
            "(run_lease_seconds); retry it with POST /v1/runs/ID/retry or on the runs page."
        ),
        epilog=_WORKER_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(worker, data_dir)
    worker.add_argument(
        "--once",
        action="store_true",
        help="work what is queued now (and a due purge), then stop: for cron or a systemd timer",
    )
    add_output_options(worker, json_option=False)
    worker.set_defaults(handler=_worker)


_WORKER_EXAMPLES = """\
examples:
  matcher worker --data-dir /srv/crosscheck
  matcher worker --once
"""


def _worker(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine:
        worker = Worker(engine, settings)
        try:
            while True:
                if not worker.take_runs():
                    ctx.say("Another process holds the runs lease; waiting for its queue.")
                for summary in worker.run_all():
                    ctx.say(f"run {summary.id}: {summary.status}")
                purged = worker.purge_if_due()
                if purged is not None:
                    ctx.say("Applied the retention purge.")
                if args.once:
                    return 0
                time.sleep(settings.worker_poll_seconds)
        finally:
            worker.stop()


def _operator() -> str:
    # The console has no API token; record which account started the run instead.
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


def _rule_counts(summary: RunSummary) -> dict[str, dict[str, int]]:
    rules: dict[str, dict[str, int]] = summary.counts.get("rules", {})
    return rules


def _run(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    policy: Path | None = args.policy
    if policy is not None and not policy.is_file():
        raise NoActivePolicy(
            f"the policy file {policy} does not exist, so no run was started; pass the path "
            f"of a policy TOML file (the shipped one is {SHIPPED_POLICY.name} in policies/)"
        )
    run_date = args.run_date or datetime.now(UTC).date()
    summary = start_run(settings, policy, run_date, _operator())
    if ctx.json:
        ctx.emit_json(summary.__dict__)
        return 0
    ctx.out.print(f"run {summary.id}", markup=False)
    ctx.say(
        f"policy {summary.policy_id} version {summary.policy_version}, "
        f"digest {summary.policy_digest}"
    )
    companies = ", ".join(sorted(summary.extract_ids)) or "none (no extracts uploaded yet)"
    ctx.say(f"run date {summary.run_date}; companies matched: {companies}")
    if ctx.quiet:
        return 0
    table = Table(title="Hits per rule and band")
    table.add_column("rule")
    for band in _BANDS:
        table.add_column(band, justify="right")
    table.add_column("total", justify="right")
    totals = dict.fromkeys(_BANDS, 0)
    for rule_id, bands in sorted(_rule_counts(summary).items()):
        row = [int(bands.get(band, 0)) for band in _BANDS]
        for band, n in zip(_BANDS, row, strict=True):
            totals[band] += n
        table.add_row(Text(rule_id), *(str(n) for n in row), str(sum(row)))
    table.add_section()
    table.add_row("all rules", *(str(totals[b]) for b in _BANDS), str(sum(totals.values())))
    ctx.out.print(table)
    counts = summary.counts
    ctx.say(
        f"{counts.get('new', 0)} new, {counts.get('still_present', 0)} still present, "
        f"{counts.get('reopened', 0)} reopened, {counts.get('resolved_by_data', 0)} resolved "
        "by data since the previous run"
    )
    for company, reason in sorted(counts.get("skipped", {}).items()):
        ctx.say(
            f"left out: company {company}'s extract ({reason}: over the extract limits in "
            "matcher.toml); the other companies were matched without it"
        )
    return 0
