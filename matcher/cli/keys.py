"""`matcher keys reveal-public`: hand the reveal public key and its fingerprint to companies."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    data_dir_argument,
    open_settings,
)
from matcher.crypto import reveal_key_fingerprint
from matcher.errors import ConfigError, InvalidInput

__all__ = ["register"]

_EXAMPLES = """\
examples:
  matcher keys reveal-public --data-dir /srv/crosscheck --out reveal.pub
Send reveal.pub to every company's data officer; then read them the fingerprint by phone so
they can check it against what `connector init` shows before the first upload.
"""


def register(commands: Any, data_dir: Path) -> None:
    keys = commands.add_parser(
        "keys",
        help="export the reveal public key for the companies",
        description="The matcher's keys as the companies need them.",
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", required=True)
    public = sub.add_parser(
        "reveal-public",
        help="write the reveal public key (PEM) and print its fingerprint",
        description=(
            "Write the matcher's reveal public key (PEM) to FILE and print its fingerprint. "
            "Every company's connector seals the revealable fields of each extract to this key, "
            "and every manifest carries the fingerprint; the matcher rejects a package sealed "
            "to another key. The private key never leaves the data directory."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(public, data_dir)
    public.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="where to write the PEM file"
    )
    add_output_options(public, json_option=True)
    public.set_defaults(handler=_reveal_public)


def _reveal_public(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    try:
        pem = settings.reveal_public_key_path.read_bytes()
    except OSError:
        raise ConfigError(
            f"the reveal public key {settings.reveal_public_key_path} is missing; restore the "
            "data directory's keys/ folder from its backup"
        ) from None
    fingerprint = reveal_key_fingerprint(pem)
    out: Path = args.out
    try:
        out.write_bytes(pem)
    except OSError as exc:
        raise InvalidInput(f"can not write {out} ({exc.strerror}); choose another path") from None
    if ctx.json:
        ctx.emit_json({"out": out, "reveal_kem": settings.reveal_kem, "fingerprint": fingerprint})
        return 0
    ctx.say(f"Wrote the reveal public key ({settings.reveal_kem}) to {out}")
    ctx.out.print(f"reveal key fingerprint: {fingerprint}", markup=False)
    ctx.say("Read this fingerprint to each company's data officer by phone when you send the file.")
    return 0
