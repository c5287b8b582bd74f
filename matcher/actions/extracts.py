"""Reading extracts: the data officer's list and one extract, from the API or the page alike.

Data officers see their own company's extracts, admins all. A list leaves ``extract.list``
(naming the company when the reader is bound to one), a read ``extract.read``. The upload
itself is streamed by the API (:mod:`matcher.api.intake` checks it) and logged there as
``upload.accept`` / ``upload.reject``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.vocabulary import AuditAction, Role
from matcher.errors import NotFound
from matcher.store import extracts as store
from matcher.store.extracts import Extract

__all__ = ["extract_object", "list_extracts", "read_extract"]


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
