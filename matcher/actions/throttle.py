"""Slowing down and locking out failed authentications; tallying anonymous refusals.

Both doors (the API's bearer header, the web sign-in form) count a failed authentication
against two keys: the source address and the presented token's prefix, each as a keyed hash
(:func:`matcher.crypto.source_tag`). From half of ``auth_failure_limit`` on, each further
failure is answered ``auth_failure_delay_seconds`` late; reaching the limit within
``auth_failure_window_seconds`` locks the key out for ``auth_lockout_seconds`` (429 with
Retry-After). A lockout of one address or prefix does not touch other addresses' valid tokens.

A refused attempt by an anonymous caller is not one audit entry: it is tallied per source, route
template and minute, and each completed minute becomes one ``access.denied`` entry with the
count (:func:`flush_tallies`), so anonymous traffic can grow the log by at most one entry per
source, route template and minute (and per log read in that minute, which flushes the minute
so far). Refusals naming a known user stay one entry each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from matcher.actions.principal import ANONYMOUS
from matcher.core.audit import Outcome
from matcher.core.vocabulary import ACCESS_DENIED
from matcher.crypto import source_tag
from matcher.errors import TooManyAttempts
from matcher.settings import Settings
from matcher.store import audit
from matcher.store import throttle as store

__all__ = ["Attempt", "attempt", "failed", "flush_tallies", "refuse_if_locked", "tally_refusal"]

TOKEN_PREFIX_LENGTH = 12  # "cc_" and 9 characters: 54 bits, enough to tell tokens apart


@dataclass(frozen=True)
class Attempt:
    """One authentication attempt, named only by keyed hashes."""

    source: str
    token_prefix: str | None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.source,) if self.token_prefix is None else (self.source, self.token_prefix)


def attempt(secret: bytes, address: str, token: str) -> Attempt:
    prefix = token[:TOKEN_PREFIX_LENGTH] if token else ""
    return Attempt(
        source_tag(secret, "src", address),
        source_tag(secret, "tok", prefix) if prefix else None,
    )


def refuse_if_locked(conn: Connection, attempt: Attempt, now: datetime) -> None:
    """Raise :class:`TooManyAttempts` (with the seconds to wait) while a key is locked out."""
    ends = store.lock_ends(conn, attempt.keys, now)
    if ends is not None:
        raise TooManyAttempts(max(1, math.ceil((ends - now).total_seconds())))


def failed(conn: Connection, attempt: Attempt, now: datetime, settings: Settings) -> float:
    """Count a failed authentication; returns how long to hold the answer back (seconds)."""
    worst = 0
    for key in attempt.keys:
        failures = store.count_failure(
            conn,
            key,
            now,
            window=timedelta(seconds=settings.auth_failure_window_seconds),
            limit=settings.auth_failure_limit,
            lockout=timedelta(seconds=settings.auth_lockout_seconds),
        )
        worst = max(worst, failures)
    if worst * 2 >= settings.auth_failure_limit:
        return settings.auth_failure_delay_seconds
    return 0.0


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def tally_refusal(conn: Connection, source: str, route: str, now: datetime) -> None:
    """Count an anonymous refusal of ``source`` (a keyed hash) on ``route`` ("METHOD /path
    template") in the current minute, and log the minutes that are complete."""
    store.tally_refusal(conn, source, route, _minute(now))
    flush_tallies(conn, now)


def flush_tallies(conn: Connection, now: datetime, *, complete_only: bool = True) -> int:
    """Write one ``access.denied`` entry per source, route and completed minute; returns how many.

    With ``complete_only=False`` the current minute's tallies are written too: before the log
    is exported, read or verified, and when the service starts, so no refusal waits for the
    next one to reach the log (a later refusal in the same minute starts a new tally)."""
    written = 0
    until = _minute(now) + timedelta(minutes=1) if not complete_only else _minute(now)
    for tally in store.tallies_before(conn, until):
        count = store.take_tally(conn, tally)
        if count is None:
            continue  # another worker logged it
        audit.append(
            conn,
            actor=ANONYMOUS,
            action=ACCESS_DENIED,
            outcome=Outcome("denied", "unauthenticated"),
            now=now,
            object_ids={
                "route": tally.route,
                "source": tally.source,
                "minute": tally.minute.strftime("%Y-%m-%dT%H:%MZ"),
                "count": str(count),
            },
        )
        written += 1
    return written
