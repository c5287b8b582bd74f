"""The subject access report: what the matcher holds about one person, by national-id token.

The token comes from ``connector token`` at the person's housing company (the matcher can not
compute it). The active extracts are searched for the token's refs (the store reads the stored
Parquet), then hits and requests by ref. Logged as ``subject.report`` with counts only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.vocabulary import AuditAction
from matcher.errors import InvalidInput
from matcher.store import reveal as store
from matcher.store.blobs import BlobStore
from matcher.store.extracts import refs_holding_token

__all__ = ["SubjectFindings", "subject_report"]

_TOKEN = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SubjectFindings:
    refs: dict[str, set[str]]  # company -> the person's refs in its active extract
    hits: list[store.HitSides]
    requests: list[store.StoredRequest]


def subject_report(
    conn: Connection, who: Principal, blobs: BlobStore, token: str, now: datetime
) -> SubjectFindings:
    token = token.lower()
    if not _TOKEN.match(token):
        raise InvalidInput("token must be the 64 hex digits `connector token` prints")
    refs = refs_holding_token(conn, blobs, "national_id", bytes.fromhex(token))
    hits = store.hits_by_refs(conn, refs)
    requests = store.requests_for_hits(conn, [h.id for h in hits])
    record(
        conn,
        who,
        AuditAction.SUBJECT_REPORT,
        now,
        {"companies": str(len(refs)), "hits": str(len(hits)), "requests": str(len(requests))},
    )
    return SubjectFindings(refs, hits, requests)
