"""`connector keys`: create the group's shared matching key (once per epoch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from connectors import pseudonymise
from connectors.cli._common import Context, open_profile, profile_argument
from connectors.errors import KeyFileError
from contract import pem_fingerprint

__all__ = ["register"]


def register(commands: Any) -> None:
    keys = commands.add_parser(
        "keys",
        help="create the shared matching key",
        description="Key management for the key custodian of the participating companies.",
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", required=True)
    new = sub.add_parser(
        "new-matching-key",
        help="create a 256-bit matching key and print its epoch id",
        description=(
            "Create a new 256-bit matching key. Every participating company's connector needs "
            "the same key (distribute it out of band, e.g. on an encrypted USB stick handed over "
            "in person); the matcher must never get it. The printed epoch id identifies the key "
            "in manifests without revealing it."
        ),
    )
    new.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write it")
    new.set_defaults(handler=_new_matching_key)
    new.epilog = "example:\n  connector keys new-matching-key --out matching.key\n"
    new.formatter_class = argparse.RawDescriptionHelpFormatter

    fingerprint = sub.add_parser(
        "fingerprint",
        help="print the fingerprint of the workspace's signing key",
        description=(
            "Print the fingerprint of the workspace's public signing key (signing.pub), in the "
            "form `matcher companies list` shows. Read it to the matcher's operator on the "
            "phone when they register your key: both must be the same."
        ),
        epilog="example:\n  connector keys fingerprint --profile ws/connector.toml\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile_argument(fingerprint)
    fingerprint.set_defaults(handler=_fingerprint)


def _new_matching_key(args: argparse.Namespace, ctx: Context) -> int:
    out: Path = args.out
    if out.exists():
        raise KeyFileError(
            f"{out} already exists; a matching key is never overwritten (that would end the "
            "epoch for everyone). Choose another file name"
        )
    key = pseudonymise.new_matching_key()
    pseudonymise.write_matching_key(out, key)
    ctx.out.print(f"epoch {key.epoch}", markup=False)
    ctx.say(
        f"Wrote {out} (mode 0600). Give a copy to every participating company's data officer "
        "out of band; never to the matcher's operator."
    )
    return 0


def _fingerprint(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    path = profile.signing_public_key_path
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(
            f"no public signing key at {path}: `connector init` writes it as signing.pub; "
            "check [keys] signing_public_key in the profile"
        ) from None
    ctx.out.print(pem_fingerprint(pem), markup=False)
    return 0
