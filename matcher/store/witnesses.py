"""Companies' witnesses and the cosignatures they sent (tables ``witnesses`` and
``witness_cosignatures``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from matcher.errors import ConflictError
from matcher.store.tables import witness_cosignatures, witnesses

__all__ = ["Witness", "add_witness", "cosignature_lines", "list_witnesses", "store_cosignature"]


@dataclass(frozen=True)
class Witness:
    id: int
    company_id: str
    name: str
    public_key: str  # PEM


def add_witness(
    conn: Connection, company_id: str, name: str, public_pem: str, now: datetime
) -> Witness:
    try:
        with conn.begin_nested():
            row_id = conn.execute(
                insert(witnesses)
                .values(company_id=company_id, name=name, public_key=public_pem, added_at=now)
                .returning(witnesses.c.id)
            ).scalar_one()
    except IntegrityError as exc:
        raise ConflictError(f"a witness named {name!r} is already registered") from exc
    return Witness(int(row_id), company_id, name, public_pem)


def list_witnesses(conn: Connection, company_id: str | None = None) -> list[Witness]:
    query = select(witnesses).order_by(witnesses.c.id)
    if company_id is not None:
        query = query.where(witnesses.c.company_id == company_id)
    return [Witness(int(r.id), r.company_id, r.name, r.public_key) for r in conn.execute(query)]


def store_cosignature(
    conn: Connection, size: int, witness_id: int, line: str, timestamp: int, now: datetime
) -> bool:
    """Keep a verified cosignature; False when this witness already cosigned this size."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(witness_cosignatures).values(
                    size=size, witness_id=witness_id, line=line, timestamp=timestamp,
                    received_at=now,
                )
            )  # fmt: skip
    except IntegrityError:
        return False
    return True


def cosignature_lines(conn: Connection) -> tuple[int, list[str]] | None:
    """The largest cosigned size and its cosignature lines, or None when none was sent."""
    size = conn.execute(
        select(witness_cosignatures.c.size).order_by(witness_cosignatures.c.size.desc()).limit(1)
    ).scalar_one_or_none()
    if size is None:
        return None
    lines = conn.execute(
        select(witness_cosignatures.c.line)
        .where(witness_cosignatures.c.size == size)
        .order_by(witness_cosignatures.c.witness_id)
    ).scalars()
    return int(size), [str(line) for line in lines]
