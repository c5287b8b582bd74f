"""Leases: which process runs a periodic job (queued runs, the retention purge) right now.

A lease is a row (name, holder, expires_at). ``take`` succeeds when the row is missing, expired
or already the caller's; every change is one compare-and-set statement, so of several processes
racing for an expired lease exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from matcher.store.database import utc
from matcher.store.tables import leases

__all__ = ["Taken", "holder_of", "release", "take"]


@dataclass(frozen=True)
class Taken:
    """A lease won: ``fresh`` when it was not the caller's before (missing, expired, another's
    expired), so whatever the previous holder left running is now orphaned."""

    fresh: bool
    first: bool  # the row did not exist: the job never ran anywhere


def take(
    conn: Connection,
    name: str,
    holder: str,
    now: datetime,
    seconds: float,
    *,
    renew: bool = True,
) -> Taken | None:
    """Take or renew the lease ``name`` for ``seconds``; None when another holds it.

    With ``renew=False`` the caller's own unexpired lease is not extended and counts as held by
    another (None): a job that runs once per lease period (the purge) takes it only when due."""
    until = now + timedelta(seconds=seconds)
    row = conn.execute(select(leases).where(leases.c.name == name)).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(leases.insert().values(name=name, holder=holder, expires_at=until))
        except IntegrityError:
            return None  # another process inserted it first
        return Taken(fresh=True, first=True)
    expired = utc(row.expires_at) <= now
    if row.holder == holder and not expired:
        if not renew:
            return None
        conn.execute(
            leases.update()
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(expires_at=until)
        )
        return Taken(fresh=False, first=False)
    if not expired:
        return None
    won = conn.execute(
        leases.update()
        .where(
            leases.c.name == name,
            leases.c.holder == row.holder,
            leases.c.expires_at <= now,
        )
        .values(holder=holder, expires_at=until)
    )
    if won.rowcount != 1:
        return None
    return Taken(fresh=True, first=False)


def holder_of(conn: Connection, name: str, now: datetime) -> str | None:
    """Who holds ``name`` now (None when nobody does or it has expired)."""
    row = conn.execute(select(leases).where(leases.c.name == name)).first()
    if row is None or utc(row.expires_at) <= now:
        return None
    return str(row.holder)


def release(conn: Connection, name: str, holder: str) -> None:
    """Give the lease up at a clean stop, so the next process need not wait for it to expire."""
    conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))
