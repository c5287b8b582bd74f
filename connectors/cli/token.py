"""`connector token`: the national-id token of one person, computed locally (subject access).

A data subject asks what the matcher holds about them. The matcher can not compute their token
(it never has the matching key), so the data officer computes it here, with the same
normalisation and the same keyed HMAC as ``connector pseudonymise``, and hands the hex to the
matcher operator for ``GET /v1/subject-report?token=...``. The id is not stored or logged.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from connectors import pseudonymise
from connectors.cli._common import Context, iso_date, open_profile, profile_argument
from connectors.identity import parse_national_id

__all__ = ["national_id_token", "register"]


def register(commands: Any) -> None:
    token = commands.add_parser(
        "token",
        help="print the national-id token of one person (for a subject access request)",
        description=(
            "Print the token the connector computes for one national id, as 64 hex digits. "
            "The matcher operator passes it to GET /v1/subject-report?token=... to list the "
            "hits, reveal requests and disclosures about that person. The id is normalised "
            "exactly as `connector pseudonymise` does (the profile's id scheme), then keyed "
            "with the shared matching key; nothing is written or sent."
        ),
        epilog=(
            "example:\n  connector token --national-id 19811218-9876 "
            "--profile ws/connector.toml\n"
            "Send the printed token to the matcher operator over the channel you use for "
            "subject access requests; it is a pseudonym of the person, treat it as personal data."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument(
        "--national-id",
        required=True,
        metavar="ID",
        help="the person's national id in any form the profile's scheme accepts",
    )
    profile_argument(token)
    token.add_argument(
        "--as-of",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help=(
            "the date that decides the century of a short id (YYMMDD-NNNC); default today. "
            "Use the extract's as-of date for an id given in short form"
        ),
    )
    token.set_defaults(handler=_token)


def national_id_token(encoder: pseudonymise.Encoder, raw: str, scheme: str, as_of: date) -> str:
    """The hex token of ``raw``: canonical form under ``scheme``, then the national-id HMAC."""
    canonical = parse_national_id(raw, scheme, as_of).canonical
    return encoder.token_for("national_id", canonical).hex()


def _token(args: argparse.Namespace, ctx: Context) -> int:
    profile = open_profile(args.profile)
    encoder = pseudonymise.Encoder(
        pseudonymise.load_matching_key(profile.matching_key_path),
        pseudonymise.load_local_key(profile.local_key_path),
    )
    as_of: date = args.as_of or datetime.now(UTC).date()
    ctx.out.print(
        national_id_token(encoder, args.national_id, profile.national_id_scheme, as_of),
        markup=False,
    )
    return 0
