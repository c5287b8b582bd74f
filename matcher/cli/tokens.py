"""`matcher tokens ...`: machine tokens for scripts and the connector's upload.

The same operations as ``/v1/users/{name}/tokens`` and ``/v1/tokens/{id}/...``, run directly
against the database of the data directory. A token is printed once, when it is made or
rotated; listings show names, expiry and last use, never hashes.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from matcher.actions import admin as actions
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    console_actor,
    data_dir_argument,
    open_engine,
    open_settings,
)
from matcher.store.database import utcnow
from matcher.store.tokens import MachineToken

__all__ = ["register"]

_EXAMPLES = """\
examples:
  matcher tokens add linbo-upload --name "nightly upload" --days 90
  matcher tokens list linbo-upload
  matcher tokens rotate 12 --overlap-days 7
  matcher tokens revoke 12
A machine token acts as its user (their role and company) until it expires. Rotate before it
does: the new token is printed once, and the old one keeps working for the overlap while you
switch the script over.
"""


def register(commands: Any, data_dir: Path) -> None:
    tokens = commands.add_parser(
        "tokens",
        help="machine tokens: add, list, rotate, revoke",
        description="Named, expiring bearer tokens of a user, for scripts and uploads.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    add = sub.add_parser(
        "add",
        help="make a token for a user and print it once",
        description="Make a machine token for USER, valid for --days; printed only now.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add.add_argument("user", metavar="USER", help="the user the token acts as")
    add.add_argument("--name", required=True, help="what it is for, e.g. 'nightly upload'")
    add.add_argument(
        "--days",
        type=int,
        default=90,
        help=f"valid this many days (1-{actions.MAX_TOKEN_DAYS}; default 90)",
    )
    listing = sub.add_parser(
        "list",
        help="a user's tokens with expiry and last use",
        description="List USER's machine tokens, newest first.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    listing.add_argument("user", metavar="USER")
    rotate = sub.add_parser(
        "rotate",
        help="a successor token, the old one running out after an overlap",
        description=(
            "Make a successor of token ID (same name and lifetime) and print it once; the old "
            "token keeps working for --overlap-days, so the script can switch without downtime."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    rotate.add_argument("token_id", metavar="ID", type=int, help="the token's id (tokens list)")
    rotate.add_argument(
        "--overlap-days",
        type=int,
        default=7,
        help=f"the old token still works this long (0-{actions.MAX_TOKEN_OVERLAP_DAYS}; 7)",
    )
    revoke = sub.add_parser(
        "revoke",
        help="stop a token at once",
        description="Revoke token ID: every request with it is refused from now on (401).",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    revoke.add_argument("token_id", metavar="ID", type=int)
    for parser, handler in ((add, _add), (listing, _list), (rotate, _rotate), (revoke, _revoke)):
        data_dir_argument(parser, data_dir)
        add_output_options(parser, json_option=True)
        parser.set_defaults(handler=handler)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _json(token: MachineToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "replaced_by": token.replaced_by,
    }


def _print_new(ctx: Context, token: MachineToken, secret: str, what: str) -> int:
    if ctx.json:
        ctx.emit_json({**_json(token), "token": secret})
        return 0
    ctx.say(f"{what} token {token.id} ({token.name}), valid until {_when(token.expires_at)}.")
    ctx.out.print(
        "The token is shown only now and is stored nowhere; put it where the script reads it:",
        markup=False,
    )
    ctx.out.print(secret, markup=False)
    return 0


def _add(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        token, secret = actions.add_token(
            conn, console_actor(), utcnow(), args.user, args.name, args.days
        )
    return _print_new(ctx, token, secret, "Made")


def _rotate(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        token, secret = actions.rotate_token(
            conn, console_actor(), utcnow(), args.token_id, args.overlap_days
        )
    if not ctx.json:
        ctx.say(f"Token {args.token_id} works {args.overlap_days} more day(s), then stops.")
    return _print_new(ctx, token, secret, "Made the successor")


def _revoke(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        token = actions.revoke_token(conn, console_actor(), utcnow(), args.token_id)
    if ctx.json:
        ctx.emit_json(_json(token))
        return 0
    ctx.say(f"Revoked token {token.id} ({token.name}); it is refused from now on.")
    return 0


def _list(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        _user, found = actions.list_tokens(conn, console_actor(), utcnow(), args.user)
    if ctx.json:
        ctx.emit_json([_json(t) for t in found])
        return 0
    table = Table(title=f"Tokens of {args.user}")
    for column in ("id", "name", "created", "expires", "last used", "revoked"):
        table.add_column(column)
    for token in found:
        table.add_row(
            str(token.id),
            token.name,
            _when(token.created_at),
            _when(token.expires_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
    ctx.out.print(table)
    return 0
