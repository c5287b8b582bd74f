"""Counts of failed authentications and of refused anonymous attempts, kept in the database.

Keys are keyed hashes (:func:`matcher.crypto.source_tag`) of a client address or a token's
prefix, never the value itself. Both tables are small: one row per key, and per source, route and
minute until that minute is written to the audit log. Being in the database, the counts hold
for every worker of the service, and survive a restart (a lockout does not end by restarting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError

from matcher.store.database import utc
from matcher.store.tables import auth_throttle, denied_tallies

__all__ = [
    "Tally",
    "count_failure",
    "lock_ends",
    "take_tally",
    "tallies_before",
    "tally_refusal",
]


def lock_ends(conn: Connection, keys: Sequence[str], now: datetime) -> datetime | None:
    """When the latest lockout of any of ``keys`` ends, if one is in force at ``now``."""
    found = conn.execute(
        select(func.max(auth_throttle.c.locked_until)).where(
            auth_throttle.c.key.in_(list(keys)), auth_throttle.c.locked_until > now
        )
    ).scalar_one_or_none()
    return None if found is None else utc(found)


def count_failure(
    conn: Connection,
    key: str,
    now: datetime,
    *,
    window: timedelta,
    limit: int,
    lockout: timedelta,
) -> int:
    """Count one failure of ``key``; returns the failures in its current window. Reaching
    ``limit`` within ``window`` locks the key until ``now + lockout`` and starts a new window."""
    row = conn.execute(select(auth_throttle).where(auth_throttle.c.key == key)).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    auth_throttle.insert().values(
                        key=key, window_started_at=now, failures=0, locked_until=None
                    )
                )
        except IntegrityError:
            pass  # another request counted the first failure of this key a moment ago
        row = conn.execute(select(auth_throttle).where(auth_throttle.c.key == key)).one()
    started, failures = utc(row.window_started_at), int(row.failures)
    if now - started > window:
        started, failures = now, 0
    failures += 1
    values: dict[str, object] = {"window_started_at": started, "failures": failures}
    if failures >= limit:
        values.update(locked_until=now + lockout, failures=0, window_started_at=now)
    conn.execute(auth_throttle.update().where(auth_throttle.c.key == key).values(**values))
    return failures


@dataclass(frozen=True)
class Tally:
    source: str
    route: str
    minute: datetime
    count: int


def tally_refusal(conn: Connection, source: str, route: str, minute: datetime) -> None:
    """Count one refused anonymous attempt of ``source`` on ``route`` in ``minute``."""
    where = (
        denied_tallies.c.source == source,
        denied_tallies.c.route == route,
        denied_tallies.c.minute == minute,
    )
    bump = denied_tallies.update().where(*where).values(count=denied_tallies.c.count + 1)
    if conn.execute(bump).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                denied_tallies.insert().values(source=source, route=route, minute=minute, count=1)
            )
    except IntegrityError:
        conn.execute(bump)


def tallies_before(conn: Connection, minute: datetime) -> list[Tally]:
    """Tallies of minutes before ``minute`` (complete: no attempt can join them any more)."""
    rows = conn.execute(
        select(denied_tallies)
        .where(denied_tallies.c.minute < minute)
        .order_by(denied_tallies.c.minute, denied_tallies.c.source, denied_tallies.c.route)
    )
    return [Tally(r.source, r.route, utc(r.minute), int(r._mapping["count"])) for r in rows]


def take_tally(conn: Connection, tally: Tally) -> int | None:
    """Remove a tally to log it; its count, or None when another worker took it first."""
    taken = conn.execute(
        delete(denied_tallies)
        .where(
            denied_tallies.c.source == tally.source,
            denied_tallies.c.route == tally.route,
            denied_tallies.c.minute == tally.minute,
        )
        .returning(denied_tallies.c.count)
    ).first()
    return None if taken is None else int(taken[0])
