"""`matcher policies ...`: check, activate, retire and list legal-basis policies.

``check`` needs nothing but the file; the others work on the data directory's database, like
``POST /v1/policies``. Activation shows the check result first and refuses a file with any
problem; activating a new version of a policy retires the old one. Activation and retirement are
audit entries naming the console account (``cli:<login>``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from matcher.actions.policies import activate_in, retire_in
from matcher.cli._common import (
    EXIT_FAILED,
    Context,
    HelpFormatter,
    add_output_options,
    console_actor,
    data_dir_argument,
    open_engine,
    open_settings,
)
from matcher.core.policy import PolicyError, Problem
from matcher.errors import InvalidInput
from matcher.store.database import utcnow
from matcher.store.policies import (
    StoredPolicy,
    list_policies,
    policy_problems,
)

__all__ = ["register"]

_EXAMPLES = """\
examples:
  matcher policies check policies/concurrent-tenancy.toml
  matcher policies activate policies/concurrent-tenancy.toml --data-dir /srv/crosscheck
  matcher policies list
  matcher policies retire concurrent-tenancy
A policy is reviewed by the lawyer and the DPO before it is activated (policies/README.md).
Any edit of the file, even a comment, is a new text: bump its `version`.
"""


def register(commands: Any, data_dir: Path) -> None:
    group = commands.add_parser(
        "policies",
        help="check, activate, retire and list legal-basis policies",
        description=(
            "Legal-basis policies decide what may be matched and revealed. A run refuses to "
            "start unless a policy is active."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = group.add_subparsers(dest="policies_command", metavar="COMMAND", required=True)

    check = sub.add_parser(
        "check",
        help="list every problem of a policy file (exit 1 if there is any)",
        description=(
            "Validate a policy file without activating it. Prints 'no problems' and exits 0, "
            "or lists every problem with its key path and exits 1."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the policy TOML file")
    add_output_options(check, json_option=True)
    check.set_defaults(handler=_check)

    activate = sub.add_parser(
        "activate",
        help="check a policy file and make it the active version (admin)",
        description=(
            "Check the file, refuse it if it has any problem, otherwise store its exact text and "
            "digest as the active version of its policy id; the previously active version of "
            "that id is retired. Activating the active text again changes nothing."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    activate.add_argument("file", type=Path, metavar="FILE", help="the policy TOML file")
    data_dir_argument(activate, data_dir)
    add_output_options(activate, json_option=True)
    activate.set_defaults(handler=_activate)

    retire = sub.add_parser(
        "retire",
        help="retire the active version of a policy (admin)",
        description="Retire the active version of policy ID: no run can use it from now on.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    retire.add_argument("policy_id", metavar="ID", help="the policy id, e.g. concurrent-tenancy")
    data_dir_argument(retire, data_dir)
    add_output_options(retire, json_option=True)
    retire.set_defaults(handler=_retire)

    listing = sub.add_parser(
        "list",
        help="list activated policies, active first",
        description="Every activated policy version with its digest, status and dates.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(listing, data_dir)
    add_output_options(listing, json_option=True)
    listing.set_defaults(handler=_list)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"the policy file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory; name the policy file itself") from None
    except OSError as exc:
        raise InvalidInput(f"the policy file {path} can not be read ({exc.strerror})") from None


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "message": problem.message,
        "line": problem.line,
        "column": problem.column,
    }


def _report(ctx: Context, path: Path, problems: list[Problem]) -> None:
    if ctx.json:
        ctx.emit_json({"file": path, "problems": [_problem_json(p) for p in problems]})
        return
    if not problems:
        ctx.out.print(f"{path}: no problems", markup=False)
        return
    count = len(problems)
    ctx.err.print(f"{path}: {count} problem{'s' if count != 1 else ''}", markup=False)
    for problem in problems:
        ctx.err.print(f"  {problem}", markup=False)


def _check(args: argparse.Namespace, ctx: Context) -> int:
    problems = policy_problems(_read(args.file))
    _report(ctx, args.file, problems)
    return EXIT_FAILED if problems else 0


def _policy_json(stored: StoredPolicy) -> dict[str, Any]:
    return {
        "id": stored.id,
        "version": stored.version,
        "digest": stored.digest,
        "status": stored.status,
        "activated_at": stored.activated_at,
        "activated_by": stored.activated_by,
        "retired_at": stored.retired_at,
        "retired_by": stored.retired_by,
    }


def _activate(args: argparse.Namespace, ctx: Context) -> int:
    raw = _read(args.file)
    problems = policy_problems(raw)
    if problems:
        _report(ctx, args.file, problems)
        if not ctx.json:
            ctx.err.print("not activated: fix the problems above and run again", markup=False)
        return EXIT_FAILED
    if not ctx.json:
        ctx.say(f"{args.file}: no problems")
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        try:
            result = activate_in(conn, raw, console_actor(), utcnow())
        except PolicyError as exc:  # checked above; only a race with an edit gets here
            _report(ctx, args.file, list(exc.problems))
            return EXIT_FAILED
    stored = result.policy
    if ctx.json:
        ctx.emit_json(
            {
                "policy": _policy_json(stored),
                "retired": None if result.retired is None else _policy_json(result.retired),
                "changed": result.changed,
            }
        )
        return 0
    if not result.changed:
        ctx.out.print(
            f"policy {stored.id} version {stored.version} is active already; nothing changed",
            markup=False,
        )
        return 0
    ctx.out.print(
        f"activated policy {stored.id} version {stored.version} ({stored.digest})", markup=False
    )
    if result.retired is not None:
        ctx.say(f"retired version {result.retired.version} of {stored.id}")
    return 0


def _retire(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        stored = retire_in(conn, args.policy_id, console_actor(), utcnow())
    if ctx.json:
        ctx.emit_json(_policy_json(stored))
        return 0
    ctx.out.print(
        f"retired policy {stored.id} version {stored.version}; runs refuse to start until a "
        "policy is activated",
        markup=False,
    )
    return 0


def _when(stored: StoredPolicy, retired: bool) -> str:
    moment = stored.retired_at if retired else stored.activated_at
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _list(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.connect() as conn:
        found = list_policies(conn)
    if ctx.json:
        ctx.emit_json([_policy_json(p) for p in found])
        return 0
    if ctx.quiet:
        for stored in found:
            if stored.status == "active":
                ctx.out.print(f"{stored.id} {stored.version}", markup=False)
        return 0
    if not found:
        ctx.say("No policy was ever activated; activate one with `matcher policies activate FILE`.")
        return 0
    table = Table(title="Policies")
    for column in ("id", "version", "status", "digest", "activated", "retired"):
        table.add_column(column)
    for stored in found:
        table.add_row(
            *(
                Text(v)
                for v in (
                    stored.id,
                    stored.version,
                    stored.status,
                    stored.digest,
                    _when(stored, False),
                    _when(stored, True),
                )
            )
        )
    ctx.out.print(table)
    return 0
