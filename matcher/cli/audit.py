"""`matcher audit ...`: export the audit log, verify an export offline, export the log's key.

``export`` writes every entry (JSON lines, exactly the hashed bytes) and a signed checkpoint for
exactly those entries; ``verify`` checks such a file with nothing but the log's public key and
prints a one-line summary (exit 0) or the first bad entry and why (exit 1). ``public-key``
writes the public key auditors pin, and prints the key name they pin with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from matcher.actions import audit_reads
from matcher.auditlog import VerifyError, verify_export
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    console_actor,
    data_dir_argument,
    open_engine,
    open_settings,
)
from matcher.core.audit.export import check_cosignatures
from matcher.crypto import log_public_key
from matcher.errors import InvalidInput
from matcher.store.database import utcnow

__all__ = ["register"]

_EXAMPLES = """\
examples:
  matcher audit public-key --data-dir /srv/crosscheck --out crosscheck-log.pub
  matcher audit export --data-dir /srv/crosscheck --out audit-2026-11.jsonl
  matcher audit verify audit-2026-11.jsonl --public-key crosscheck-log.pub
  matcher audit verify audit-2026-11.jsonl --public-key crosscheck-log.pub \\
      --cosigned cosigned.txt --min-witnesses 2 --witness witness.linbo.se/w1=linbo-witness.pub \\
      --witness witness.stangastaden.se/w1=stg-witness.pub --witness witness.hem.se/w1=hem.pub
Auditors verify on their own machine: `verify` needs only the export and the public key.
See docs/auditor.md.
"""


def register(commands: Any, data_dir: Path) -> None:
    group = commands.add_parser(
        "audit",
        help="export the audit log, verify an export offline, export the log's public key",
        description=(
            "The audit log records every upload, run, policy change, user change, reveal step "
            "and every refused request, in a Merkle tree whose checkpoints the matcher signs."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    export = sub.add_parser(
        "export",
        help="write every entry and a signed checkpoint to a file",
        description=(
            "Write the whole log as JSON lines (a header, every entry exactly as hashed, and "
            "the signed checkpoint for exactly those entries). The export itself is logged."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(export, data_dir)
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="export file")
    add_output_options(export, json_option=False)
    export.set_defaults(handler=_export)

    verify = sub.add_parser(
        "verify",
        help="check an export offline with the log's public key",
        description=(
            "Recompute every leaf and the Merkle root, check seq 0..n-1 without gaps and the "
            "checkpoint's signature. Exit 0 with a one-line summary when the export is intact; "
            "exit 1 naming the first bad entry (seq and line) and why."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    verify.add_argument("file", type=Path, metavar="FILE", help="an export file")
    verify.add_argument(
        "--public-key",
        type=Path,
        required=True,
        metavar="KEY",
        help="the log's Ed25519 public key (PEM) you pinned",
    )
    verify.add_argument(
        "--key-name",
        metavar="NAME",
        help="the key name you pinned with the key (default: accept the export's)",
    )
    verify.add_argument(
        "--pinned-checkpoint",
        type=Path,
        metavar="FILE",
        help="an earlier checkpoint you kept: the export must extend it unchanged",
    )
    verify.add_argument(
        "--cosigned",
        type=Path,
        metavar="FILE",
        help="the newest cosigned checkpoint (GET /v1/witness/cosigned): the export must "
        "extend it, and --min-witnesses of the --witness keys must have cosigned it",
    )
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="NAME=KEY",
        help="a company witness's name and Ed25519 public key (PEM) you pinned; repeat",
    )
    verify.add_argument(
        "--min-witnesses",
        type=int,
        metavar="K",
        help="how many of the --witness keys must have cosigned (default: all of them)",
    )
    add_output_options(verify, json_option=False)
    verify.set_defaults(handler=_verify)

    public = sub.add_parser(
        "public-key",
        help="write the log's public key (what auditors pin)",
        description=(
            "Write the audit log's Ed25519 public key (PEM) and print its key name. Give both "
            "to auditors over a channel they trust; they verify exports with them."
        ),
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(public, data_dir)
    public.add_argument("--out", type=Path, required=True, metavar="KEY", help="output file")
    add_output_options(public, json_option=False)
    public.set_defaults(handler=_public_key)


def _export(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    out: Path = args.out
    with open_engine(settings) as engine, engine.begin() as conn:
        count = audit_reads.export(conn, console_actor(), settings, out, utcnow())
    origin = settings.log_origin
    ctx.out.print(f"exported {count} entries of log {origin} to {out}", markup=False)
    return 0


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path} can not be read ({exc.strerror})") from None


def _verify(args: argparse.Namespace, ctx: Context) -> int:
    public_pem = _read_bytes(args.public_key, "the public key file")
    pinned = None
    if args.pinned_checkpoint is not None:
        pinned = _read_bytes(args.pinned_checkpoint, "the pinned checkpoint").decode(
            "utf-8", errors="replace"
        )
    try:
        summary = verify_export(
            args.file, public_pem, key_name=args.key_name, pinned_checkpoint=pinned
        )
    except VerifyError as exc:
        ctx.err.print(f"FAILED: {args.file}: {exc}", markup=False)
        return exc.exit_code
    ctx.out.print(summary.line(), markup=False)
    if args.cosigned is None:
        if args.witness:
            raise InvalidInput("--witness needs --cosigned FILE (GET /v1/witness/cosigned)")
        return 0
    return _verify_witnessed(args, ctx, public_pem)


def _witness_keys(specs: list[str]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InvalidInput(f"--witness {spec!r}: expected NAME=KEYFILE")
        try:
            key = serialization.load_pem_public_key(_read_bytes(Path(path), "the witness key"))
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInput(f"--witness {name}: {path} is not an Ed25519 public key (PEM)")
        keys[name] = key
    return keys


def _verify_witnessed(args: argparse.Namespace, ctx: Context, public_pem: bytes) -> int:
    """The export extends the cosigned checkpoint, and enough witnesses cosigned it."""
    witnesses = _witness_keys(args.witness)
    if not witnesses:
        raise InvalidInput("--cosigned needs at least one --witness NAME=KEYFILE")
    minimum = len(witnesses) if args.min_witnesses is None else args.min_witnesses
    if not 1 <= minimum <= len(witnesses):
        raise InvalidInput(f"--min-witnesses must be between 1 and {len(witnesses)}")
    note = _read_bytes(args.cosigned, "the cosigned checkpoint").decode("utf-8", "replace")
    try:
        summary = verify_export(
            args.file, public_pem, key_name=args.key_name, pinned_checkpoint=note
        )
        good = check_cosignatures(note, witnesses, minimum)
    except VerifyError as exc:
        ctx.err.print(f"FAILED: {args.file}: witnessed: {exc}", markup=False)
        return exc.exit_code
    ctx.out.print(
        f"witnessed: size {summary.pinned_size} cosigned by {len(good)} of {len(witnesses)} "
        f"witnesses ({', '.join(good)}; {minimum} required)",
        markup=False,
    )
    return 0


def _public_key(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    private_pem = settings.log_private_key()
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(log_public_key(private_pem))
    ctx.out.print(f"wrote the audit log public key to {out}", markup=False)
    ctx.out.print(f"key name: {settings.log_origin}", markup=False)
    return 0
