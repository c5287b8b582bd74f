"""Companies: the housing companies taking part, each with its Ed25519 signing public key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from matcher.crypto import normalise_signing_public_key
from matcher.errors import ConflictError, InvalidInput
from matcher.store.database import utc, utcnow
from matcher.store.tables import companies

__all__ = ["Company", "add_company", "get_company", "list_companies"]

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    signing_public_key: str
    created_at: datetime


def _company(row: Any) -> Company:
    return Company(row.id, row.name, row.signing_public_key, utc(row.created_at))


def add_company(conn: Connection, company_id: str, name: str, signing_public_pem: str) -> Company:
    """Register a company. Its id must be the manifest's ``company_id`` form."""
    if not (1 <= len(company_id) <= 64 and re.match(_ID_PATTERN, company_id)):
        raise InvalidInput(
            "a company id is 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter "
            "or digit"
        )
    if not name.strip():
        raise InvalidInput("a company needs a name")
    pem = normalise_signing_public_key(signing_public_pem)
    company = Company(company_id, name.strip(), pem, utcnow())
    try:
        with conn.begin_nested():
            conn.execute(
                companies.insert().values(
                    id=company.id,
                    name=company.name,
                    signing_public_key=company.signing_public_key,
                    created_at=company.created_at,
                )
            )
    except IntegrityError as exc:
        raise ConflictError(f"company {company_id} is registered already") from exc
    return company


def get_company(conn: Connection, company_id: str) -> Company | None:
    row = conn.execute(select(companies).where(companies.c.id == company_id)).first()
    return None if row is None else _company(row)


def list_companies(conn: Connection) -> list[Company]:
    return [_company(r) for r in conn.execute(select(companies).order_by(companies.c.id))]
