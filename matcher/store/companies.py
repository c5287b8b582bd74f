"""Companies: the housing companies taking part, each with its Ed25519 signing public key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from matcher.crypto import normalise_signing_public_key
from matcher.errors import ConflictError, InvalidInput, NotFound
from matcher.store.database import utc, utcnow
from matcher.store.tables import companies, company_previous_keys

__all__ = [
    "Company",
    "PreviousKey",
    "add_company",
    "get_company",
    "list_companies",
    "previous_keys",
    "replace_signing_key",
]

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


@dataclass(frozen=True)
class PreviousKey:
    public_key: str
    replaced_at: datetime
    accepted_until: datetime | None
    revoked_at: datetime | None

    def accepted(self, now: datetime) -> bool:
        return (
            self.revoked_at is None
            and self.accepted_until is not None
            and now < self.accepted_until
        )


def previous_keys(conn: Connection, company_id: str) -> list[PreviousKey]:
    rows = conn.execute(
        select(company_previous_keys)
        .where(company_previous_keys.c.company_id == company_id)
        .order_by(company_previous_keys.c.id)
    )
    return [
        PreviousKey(
            r.public_key,
            utc(r.replaced_at),
            None if r.accepted_until is None else utc(r.accepted_until),
            None if r.revoked_at is None else utc(r.revoked_at),
        )
        for r in rows
    ]


def replace_signing_key(
    conn: Connection,
    company_id: str,
    new_pem: str,
    now: datetime,
    *,
    accept_old_until: datetime | None,
    revoke_old: bool,
) -> Company:
    """Make ``new_pem`` the company's key; the old one is kept as a previous key, accepted
    until ``accept_old_until`` (rotation) or revoked now (compromise)."""
    company = get_company(conn, company_id)
    if company is None:
        raise NotFound(f"no company {company_id}")
    pem = normalise_signing_public_key(new_pem)
    used = {company.signing_public_key, *(k.public_key for k in previous_keys(conn, company_id))}
    if pem in used:
        raise InvalidInput(
            "this key is the company's current key or one it used before; a new key pair "
            "is needed (connector keys new-signing-key, or a new workspace)"
        )
    conn.execute(
        company_previous_keys.insert().values(
            company_id=company_id,
            public_key=company.signing_public_key,
            replaced_at=now,
            accepted_until=None if revoke_old else accept_old_until,
            revoked_at=now if revoke_old else None,
        )
    )
    if revoke_old:  # every earlier key still in its overlap goes with it
        conn.execute(
            company_previous_keys.update()
            .where(
                company_previous_keys.c.company_id == company_id,
                company_previous_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    conn.execute(
        companies.update().where(companies.c.id == company_id).values(signing_public_key=pem)
    )
    return Company(company.id, company.name, pem, company.created_at)
