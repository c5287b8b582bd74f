"""Extracts: storing an accepted upload, logging a refused one, the list and one extract.

Data officers see their own company's extracts, admins all. A list leaves ``extract.list``
(naming the company when the reader is bound to one), a read ``extract.read``. The upload body
is streamed and checked beside the API (:mod:`matcher.actions.intake`); what it then does is here,
so every door that takes a package leaves the same entries: :func:`accept_upload` stores the
extract and its ``upload.accept`` in the caller's transaction, :func:`record_duplicate` an
identical retry, :func:`record_rejection` an ``upload.reject`` naming the problem slug, alone
in its transaction (nothing else is stored).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Outcome
from matcher.core.vocabulary import AuditAction, Role
from matcher.errors import MatcherError, NotFound
from matcher.store import audit
from matcher.store import extracts as store
from matcher.store.extracts import Extract, NewExtract

__all__ = [
    "accept_upload",
    "extract_object",
    "list_extracts",
    "read_extract",
    "record_duplicate",
    "record_rejection",
]


def _scope(who: Principal) -> str | None:
    return None if who.role == Role.ADMIN else who.own_company()


def extract_object(extract_id: str, company: str) -> dict[str, str]:
    """The ``object`` of an extract's entries."""
    return {"extract": extract_id, "company": company}


def list_extracts(conn: Connection, who: Principal, now: datetime) -> list[Extract]:
    """The extracts ``who`` may see, oldest first."""
    company = _scope(who)
    found = store.list_extracts(conn, company)
    record(
        conn, who, AuditAction.EXTRACT_LIST, now, None if company is None else {"company": company}
    )
    return found


def read_extract(conn: Connection, who: Principal, extract_id: str, now: datetime) -> Extract:
    extract = store.get_extract(conn, extract_id, _scope(who))
    if extract is None:
        raise NotFound(f"no extract {extract_id}")
    record(conn, who, AuditAction.EXTRACT_READ, now, extract_object(extract.id, extract.company_id))
    return extract


def accept_upload(conn: Connection, who: Principal, new: NewExtract, now: datetime) -> Extract:
    """Store a verified package's extract (superseding the company's previous one) and its
    ``upload.accept``, in the caller's transaction."""
    stored = store.store_extract(conn, new)
    record(conn, who, AuditAction.UPLOAD_ACCEPT, now, extract_object(stored.id, stored.company_id))
    return stored


def record_duplicate(conn: Connection, who: Principal, extract: Extract, now: datetime) -> None:
    """An identical package uploaded again: nothing changes, the attempt is logged."""
    record(
        conn,
        who,
        AuditAction.UPLOAD_ACCEPT,
        now,
        extract_object(extract.id, extract.company_id),
        reason="identical_package",
    )


def record_rejection(conn: Connection, who: Principal, error: MatcherError, now: datetime) -> None:
    """The ``upload.reject`` entry of a refused package, reason = the problem slug.

    401/403/404 refusals are logged as denied access by the app's error handler instead."""
    if error.status in (401, 403, 404):
        return
    audit.append(
        conn,
        actor=who.actor,
        action=AuditAction.UPLOAD_REJECT,
        outcome=Outcome("denied", error.slug),
        now=now,
        object_ids={"company": who.own_company()},
    )
