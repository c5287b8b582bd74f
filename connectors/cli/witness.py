"""`connector witness`: the company's witness of the matcher's access log.

``init`` makes the witness folder (key pair, the pinned log key); ``run`` checks and cosigns
the newest checkpoint once (run it from cron, e.g. every 15 minutes). Exit 3 means the matcher
showed a checkpoint that does not extend the one cosigned before: the evidence is kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx

from connectors.cli._common import Context
from connectors.upload import read_token
from connectors.witness import init_witness, load_witness, witness_once

__all__ = ["register"]

_EXAMPLES = """\
examples:
  connector witness init witness --name witness.linbo.se/w1 \\
      --log-name crosscheck.example.se --log-key crosscheck-log.pub \\
      --matcher-url https://matcher.example.se --token-file witness-token
  connector witness run witness
  */15 * * * *  connector -q witness run /srv/witness
Give witness/witness.pub and the name to the matcher's operator, who registers them with
`POST /v1/companies/{id}/witnesses`; the log key and its name come from the operator's
`matcher audit public-key`. See docs/data-officer.md, "Witnessing the access log".
"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "witness",
        help="witness the matcher's access log: check and cosign its checkpoints",
        description=(
            "Your company's witness of the matcher's access log. It checks that every new "
            "checkpoint extends the one it cosigned before and cosigns it, so the matcher can "
            "not show your company a history the others do not see."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="witness_command", metavar="STEP", required=True)
    init = sub.add_parser(
        "init",
        help="make the witness folder: key pair and the pinned log key",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument("folder", type=Path, metavar="DIR")
    init.add_argument("--name", required=True, help="the witness name, e.g. witness.linbo.se/w1")
    init.add_argument("--log-name", required=True, help="the log's key name (its origin)")
    init.add_argument(
        "--log-key", required=True, type=Path, metavar="FILE", help="the log's public key (PEM)"
    )
    init.add_argument("--matcher-url", required=True, metavar="URL", help="the matcher's URL")
    init.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="a data officer's API token (else $CROSSCHECK_TOKEN at each run)",
    )
    init.set_defaults(handler=_init)
    run = sub.add_parser(
        "run",
        help="check and cosign the newest checkpoint once (from cron)",
        description=(
            "Fetch the newest checkpoint and the consistency proof from the last one this "
            "witness cosigned, check both, cosign and send the cosignature. Exit 0 when "
            "cosigned or nothing is new, 1 when the matcher can not be reached or refuses, "
            "3 when the checkpoint does not extend the last one (evidence kept)."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("folder", type=Path, metavar="DIR")
    run.set_defaults(handler=_run)


def _init(args: argparse.Namespace, ctx: Context) -> int:
    public = init_witness(
        args.folder, args.name, args.log_name, args.log_key, args.matcher_url, args.token_file
    )
    ctx.out.print(
        f"witness {args.name} ready in {args.folder}; give {public} and the name "
        f"{args.name} to the matcher's operator to register",
        markup=False,
    )
    return 0


def _run(args: argparse.Namespace, ctx: Context) -> int:
    witness = load_witness(args.folder)
    token = read_token(witness.token_file)
    with httpx.Client(base_url=witness.matcher_url, timeout=60) as client:
        result = witness_once(witness, client, token)
    if result.cosigned:
        ctx.out.print(
            f"cosigned the checkpoint of size {result.size} (consistent with size "
            f"{result.previous_size})",
            markup=False,
        )
    else:
        ctx.out.print(f"nothing new since size {result.size}", markup=False)
    return 0
