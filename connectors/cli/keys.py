"""`connector keys`: create the group's shared matching key (once per epoch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from connectors import pseudonymise
from connectors.cli._common import Context
from connectors.errors import KeyFileError

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
