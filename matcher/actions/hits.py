"""Reading hits: the API's list and read, the review queue and a hit page, each logged alike.

Whichever door asks (``GET /v1/hits``, ``/web/queue``, ``GET /v1/hits/{id}``, ``/web/hits/{id}``),
a list leaves ``hit.list`` naming the own company and a read leaves ``hit.read`` naming the hit
and the own company, in the reading transaction. Another company's hit is
:class:`~matcher.errors.NotFound` (the app's error handler logs that attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.matching.rules import policy_digest
from matcher.core.policy import PolicyError, load_policy
from matcher.core.vocabulary import AuditAction
from matcher.errors import NotFound
from matcher.store import queue as store_queue
from matcher.store.blobs import BlobStore
from matcher.store.hits import CompanyHit, hit_for_company, hits_for_company
from matcher.store.queue import QueueFilter, QueuePage

__all__ = [
    "HitContext",
    "QueueFilter",
    "QueuePage",
    "hit_context",
    "list_hits",
    "read_hit",
    "review_queue",
    "rule_description",
]


def _listed(conn: Connection, who: Principal, company: str, now: datetime) -> None:
    record(conn, who, AuditAction.HIT_LIST, now, {"company": company})


def list_hits(
    conn: Connection,
    who: Principal,
    now: datetime,
    *,
    status: str | None = None,
    rule: str | None = None,
    band: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[CompanyHit]:
    """The own company's hits after ``after_id``, oldest first (the API's cursor pages)."""
    company = who.own_company()
    found = hits_for_company(
        conn, company, status=status, rule=rule, band=band, after_id=after_id, limit=limit
    )
    _listed(conn, who, company, now)
    return found


def review_queue(
    conn: Connection, who: Principal, wanted: QueueFilter, now: datetime, page: int = 1
) -> QueuePage:
    """One numbered page of the own company's review queue, with counts (the web queue)."""
    company = who.own_company()
    result = store_queue.review_queue(conn, company, wanted, now, page)
    _listed(conn, who, company, now)
    return result


def read_hit(conn: Connection, who: Principal, hit_id: int, now: datetime) -> CompanyHit:
    """One hit of the own company; logs ``hit.read``."""
    company = who.own_company()
    hit = hit_for_company(conn, hit_id, company)
    if hit is None:
        raise NotFound(f"no hit {hit_id}")
    record(conn, who, AuditAction.HIT_READ, now, {"hit": str(hit_id), "company": company})
    return hit


@dataclass(frozen=True)
class HitContext:
    """What a hit page shows beside the hit: the policy it was found under, the rule in plain
    words, and the own record's contract period (start, end) from the own stored extract."""

    policy_id: str
    description: str | None
    own_period: tuple[date, date | None] | None


def hit_context(
    conn: Connection,
    who: Principal,
    hit: CompanyHit,
    blobs: BlobStore,
    policy_file: Path | None,
) -> HitContext:
    """The rest of a hit page for a hit already read (no entry of its own: it is the same read)."""
    company = who.own_company()
    policy = store_queue.hit_policy(conn, hit.id, company)
    if policy is None:
        raise NotFound(f"no hit {hit.id}")
    text = store_queue.policy_text(conn, policy[0], policy[1]) or _unchanged_file(
        policy_file, policy[1]
    )
    description = None if text is None else rule_description(text, hit.rule)
    own = store_queue.own_contract_period(conn, blobs, hit.id, company)
    return HitContext(policy[0], description, own)


def _unchanged_file(policy_file: Path | None, digest: str) -> str | None:
    """The configured policy file's text (for a run from a file never activated) if it is still
    the version the hit was found under."""
    if policy_file is None or not policy_file.is_file():
        return None
    data = policy_file.read_bytes()
    return data.decode("utf-8") if policy_digest(data) == digest else None


def rule_description(policy_text: str, rule_id: str) -> str | None:
    """The policy's own description of the rule, with its overlap threshold filled in."""
    try:
        policy = load_policy(policy_text.encode("utf-8"))
    except PolicyError:  # stored under an older check: show the hit without the words
        return None
    for rule in policy.rules.rules:
        if rule.id == rule_id:
            return rule.plain_description
    return None
