"""`matcher companies ...` and `matcher users ...`: the operator registers who takes part.

The same operations as the admin API (``/v1/companies``, ``/v1/users``), run directly against
the database of the data directory. Tokens are printed once, when a user is added; listings
never show token hashes.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from contract import pem_fingerprint
from matcher.actions import admin as actions
from matcher.actions.witness import add_witness
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    console_actor,
    data_dir_argument,
    open_engine,
    open_settings,
    read_text_file,
)
from matcher.errors import InvalidInput
from matcher.store.companies import Company
from matcher.store.database import utcnow
from matcher.store.tables import COMPANY_ROLES, ROLES
from matcher.store.users import User

__all__ = ["register"]

_COMPANY_EXAMPLES = """\
examples:
  matcher companies add linbo --name "Linköpings Bostäder" --signing-key linbo-signing.pub
  matcher companies list
  matcher companies list --json
  matcher companies rotate-key linbo --signing-key linbo-signing-2027.pub --overlap-days 14
  matcher companies revoke-key linbo --signing-key linbo-signing-new.pub
  matcher companies add-witness linbo --name witness.linbo.se/w1 --witness-key linbo-witness.pub
The signing key file is the company's Ed25519 public key: DIR/signing.pub of its connector
workspace. Take it from the company's data officer over a channel you trust, and compare its
fingerprint (shown by `companies list`) with them by phone.
"""

_USER_EXAMPLES = """\
examples:
  matcher users add anna --role investigator --company linbo
  matcher users add linbo-upload --role data_officer --company linbo
  matcher users add audit-office --role auditor
  matcher users revoke anna
  matcher users list
roles: admin, auditor (no company); data_officer, investigator, approver (one company each).
"""


def _fingerprint(pem: str) -> str:
    return pem_fingerprint(pem.encode("ascii"))


def _cells(*values: str) -> list[Text]:
    # Text, not str: rich would read "[...]" in a company or user name as markup.
    return [Text(v) for v in values]


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def register(commands: Any, data_dir: Path) -> None:
    _register_companies(commands, data_dir)
    _register_users(commands, data_dir)


def _register_companies(commands: Any, data_dir: Path) -> None:
    companies = commands.add_parser(
        "companies",
        help="register and list participating housing companies",
        description="The housing companies taking part, each with its signing public key.",
        epilog=_COMPANY_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = companies.add_subparsers(dest="companies_command", metavar="COMMAND", required=True)
    add = sub.add_parser(
        "add",
        help="register a company and its Ed25519 signing public key",
        description=(
            "Register a housing company. ID is the company id its connector writes into every "
            "manifest (a-z, 0-9, '_' and '-'); uploads are accepted only when signed with the "
            "key registered here."
        ),
        epilog=_COMPANY_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add.add_argument("id", metavar="ID", help="the company id, e.g. linbo")
    add.add_argument("--name", required=True, help="the company's name, shown to investigators")
    add.add_argument(
        "--signing-key",
        required=True,
        type=Path,
        metavar="PUBKEY_FILE",
        help="the company's Ed25519 signing public key (PEM), e.g. its connector's signing.pub",
    )
    data_dir_argument(add, data_dir)
    add_output_options(add, json_option=True)
    add.set_defaults(handler=_companies_add)

    listing = sub.add_parser(
        "list",
        help="list registered companies",
        description="List the registered companies with the fingerprint of their signing key.",
        epilog=_COMPANY_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(listing, data_dir)
    add_output_options(listing, json_option=True)
    listing.set_defaults(handler=_companies_list)

    for name, helptext in (
        ("rotate-key", "replace a company's signing key; the old one stays valid a while"),
        ("revoke-key", "replace a compromised signing key; the old one is refused at once"),
    ):
        change = sub.add_parser(
            name,
            help=helptext,
            description=(
                helptext[0].upper() + helptext[1:] + ". Packages signed with a revoked key are "
                "refused with `signing-key-revoked`; with rotate-key, packages signed with the "
                "old key are still accepted for --overlap-days."
            ),
            epilog=_COMPANY_EXAMPLES,
            formatter_class=HelpFormatter,
        )
        change.add_argument("id", metavar="ID", help="the company id, e.g. linbo")
        change.add_argument(
            "--signing-key",
            required=True,
            type=Path,
            metavar="PUBKEY_FILE",
            help="the company's new Ed25519 signing public key (PEM)",
        )
        if name == "rotate-key":
            change.add_argument(
                "--overlap-days",
                type=int,
                default=14,
                metavar="DAYS",
                help="days the old key is still accepted (0-90, default 14)",
            )
        data_dir_argument(change, data_dir)
        add_output_options(change, json_option=True)
        change.set_defaults(handler=_companies_change_key, revoke=name == "revoke-key")

    witness = sub.add_parser(
        "add-witness",
        help="register a company's witness of the access log (its Ed25519 public key)",
        description=(
            "Register the witness a company runs (`connector witness init` made its key): "
            "cosignatures of the access log's checkpoints are kept only when they verify with "
            "a witness key registered for the company that sends them."
        ),
        epilog=_COMPANY_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    witness.add_argument("id", metavar="ID", help="the company id, e.g. linbo")
    witness.add_argument("--name", required=True, help="the witness name, e.g. witness.linbo.se/w1")
    witness.add_argument(
        "--witness-key",
        required=True,
        type=Path,
        metavar="PUBKEY_FILE",
        help="the witness's Ed25519 public key (PEM), its witness.pub",
    )
    data_dir_argument(witness, data_dir)
    add_output_options(witness, json_option=True)
    witness.set_defaults(handler=_companies_add_witness)


def _register_users(commands: Any, data_dir: Path) -> None:
    users = commands.add_parser(
        "users",
        help="add, revoke and list users and their tokens",
        description=(
            "People and systems that use the matcher's API, each with a role and a bearer token."
        ),
        epilog=_USER_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = sub.add_parser(
        "add",
        help="add a user and print the token once",
        description=(
            "Add a user with a role and print the bearer token. The token is shown only now: the "
            "matcher stores just its hash. Hand it to the person over a channel you trust. "
            f"Roles {', '.join(COMPANY_ROLES)} are bound to one company (--company); "
            "the others are not."
        ),
        epilog=_USER_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add.add_argument("name", metavar="NAME", help="a unique user name, e.g. anna.linbo")
    add.add_argument("--role", required=True, choices=ROLES, help="what the user may do")
    add.add_argument("--company", metavar="ID", help="the user's company (company roles only)")
    data_dir_argument(add, data_dir)
    add_output_options(add, json_option=True)
    add.set_defaults(handler=_users_add)

    revoke = sub.add_parser(
        "revoke",
        help="revoke a user's token at once",
        description=(
            "Revoke the user's token: every request with it is refused from now on (401). "
            "The user stays in the list (revoked) so logs keep their meaning; to give the "
            "person access again, add a new user name."
        ),
        epilog=_USER_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    revoke.add_argument("name", metavar="NAME", help="the user to revoke")
    data_dir_argument(revoke, data_dir)
    add_output_options(revoke, json_option=True)
    revoke.set_defaults(handler=_users_revoke)

    listing = sub.add_parser(
        "list",
        help="list users, their roles and whether they are revoked",
        description="List every user with role, company, creation and revocation time.",
        epilog=_USER_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(listing, data_dir)
    add_output_options(listing, json_option=True)
    listing.set_defaults(handler=_users_list)


def _company_json(company: Company) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "signing_key_fingerprint": _fingerprint(company.signing_public_key),
        "signing_public_key": company.signing_public_key,
        "created_at": company.created_at,
    }


def _user_json(user: User) -> dict[str, Any]:
    # Never the token hash: it is not in User at all, and must not be added here.
    return {
        "name": user.name,
        "role": user.role,
        "company": user.company_id,
        "created_at": user.created_at,
        "revoked_at": user.revoked_at,
    }


def _companies_add(args: argparse.Namespace, ctx: Context) -> int:
    pem = read_text_file(args.signing_key, "the signing key file")
    if "PRIVATE KEY" in pem:
        # Keep the secret out of the database and tell the operator to warn the company.
        raise InvalidInput(
            f"{args.signing_key} holds a PRIVATE key; register the company's public key "
            "(signing.pub in its connector workspace). The company should treat this private "
            "key as exposed and make a new one"
        )
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        company = actions.add_company(conn, console_actor(), utcnow(), args.id, args.name, pem)
    if ctx.json:
        ctx.emit_json(_company_json(company))
        return 0
    ctx.say(f"Registered company {company.id} ({company.name}).")
    ctx.say(
        f"Signing key fingerprint: {_fingerprint(company.signing_public_key)} "
        "(compare it with the company's data officer by phone)"
    )
    return 0


def _public_key_file(path: Path, what: str) -> str:
    pem = read_text_file(path, f"the {what} file")
    if "PRIVATE KEY" in pem:
        # Keep the secret out of the database and tell the operator to warn the company.
        raise InvalidInput(
            f"{path} holds a PRIVATE key; register the public key ({what}). The company "
            "should treat this private key as exposed and make a new one"
        )
    return pem


def _companies_change_key(args: argparse.Namespace, ctx: Context) -> int:
    pem = _public_key_file(args.signing_key, "signing.pub of the connector workspace")
    settings = open_settings(args.data_dir)
    now = utcnow()
    with open_engine(settings) as engine, engine.begin() as conn:
        if args.revoke:
            company = actions.revoke_signing_key(conn, console_actor(), now, args.id, pem)
        else:
            company = actions.rotate_signing_key(
                conn, console_actor(), now, args.id, pem, args.overlap_days
            )
    if ctx.json:
        ctx.emit_json(_company_json(company))
        return 0
    old = (
        "the old key is refused from now on"
        if args.revoke
        else f"the old key is accepted for {args.overlap_days} more day(s)"
    )
    ctx.say(f"Company {company.id} signs with the new key now; {old}.")
    ctx.say(f"New key fingerprint: {_fingerprint(company.signing_public_key)}")
    return 0


def _companies_add_witness(args: argparse.Namespace, ctx: Context) -> int:
    pem = _public_key_file(args.witness_key, "witness.pub of the witness folder")
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        found = add_witness(conn, console_actor(), utcnow(), args.id, args.name, pem)
    if ctx.json:
        ctx.emit_json({"company": found.company_id, "name": found.name})
        return 0
    ctx.say(f"Registered witness {found.name} of company {found.company_id}.")
    return 0


def _companies_list(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        found = actions.list_companies(conn, console_actor(), utcnow())
    if ctx.json:
        ctx.emit_json([_company_json(c) for c in found])
        return 0
    if ctx.quiet:
        for company in found:
            ctx.out.print(company.id, markup=False)
        return 0
    if not found:
        ctx.say("No companies registered yet; add one with `matcher companies add`.")
        return 0
    table = Table(title="Companies")
    for column in ("id", "name", "signing key fingerprint", "registered"):
        table.add_column(column)
    for company in found:
        table.add_row(
            *_cells(
                company.id,
                company.name,
                _fingerprint(company.signing_public_key),
                _when(company.created_at),
            )
        )
    ctx.out.print(table)
    return 0


def _users_add(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        user, token = actions.add_user(
            conn, console_actor(), utcnow(), args.name, args.role, args.company
        )
    if ctx.json:
        ctx.emit_json({**_user_json(user), "token": token})
        return 0
    company = f" at company {user.company_id}" if user.company_id else ""
    ctx.say(f"Added user {user.name} with role {user.role}{company}.")
    ctx.out.print(
        f"The token of {user.name} is shown only now and is stored nowhere; hand it over "
        "over a channel you trust:",
        markup=False,
    )
    ctx.out.print(token, markup=False)
    return 0


def _users_revoke(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        user = actions.revoke_user(conn, console_actor(), utcnow(), args.name)
    if ctx.json:
        ctx.emit_json(_user_json(user))
        return 0
    ctx.say(f"Revoked user {user.name} (since {_when(user.revoked_at)}); the token is refused.")
    return 0


def _users_list(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine, engine.begin() as conn:
        found = actions.list_users(conn, console_actor(), utcnow())
    if ctx.json:
        ctx.emit_json([_user_json(u) for u in found])
        return 0
    if ctx.quiet:
        for user in found:
            ctx.out.print(user.name, markup=False)
        return 0
    table = Table(title="Users")
    for column in ("name", "role", "company", "created", "revoked"):
        table.add_column(column)
    for user in found:
        table.add_row(
            *_cells(
                user.name,
                user.role,
                user.company_id or "",
                _when(user.created_at),
                _when(user.revoked_at),
            )
        )
    ctx.out.print(table)
    return 0
