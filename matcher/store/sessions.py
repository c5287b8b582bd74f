"""Signed-in browser sessions, stored server-side: open, look up, touch, end.

The cookie carries only a random session id; the table keeps its SHA-256
(:func:`matcher.crypto.session_id_hash`), the user, when it began and was last used, and when
and why it ended. Ending a session is an update, never a delete, so an admin page can list a
user's sessions and how each ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from matcher.crypto import new_session_id, session_id_hash
from matcher.store.database import utc
from matcher.store.tables import web_sessions

__all__ = [
    "ENDED_ABSOLUTE",
    "ENDED_ADMIN",
    "ENDED_IDLE",
    "ENDED_PROVIDER",
    "ENDED_REVOKED",
    "ENDED_SIGN_OUT",
    "StoredSession",
    "end_session",
    "end_user_sessions",
    "find_session",
    "open_session",
    "session_by_id",
    "set_checked",
    "touch_session",
    "user_sessions",
]

ENDED_SIGN_OUT = "sign-out"
ENDED_IDLE = "idle"
ENDED_ABSOLUTE = "absolute"
ENDED_REVOKED = "user-revoked"
ENDED_ADMIN = "ended-by-admin"
ENDED_PROVIDER = "provider-ended"


@dataclass(frozen=True)
class StoredSession:
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    ended_reason: str | None
    language: str
    csrf: str
    # Begun at an OpenID provider: the refresh token as stored (sealed) and the last check.
    refresh_token: str | None = field(default=None, repr=False)
    checked_at: datetime | None = None


def _session(row: Any) -> StoredSession:
    ended = None if row.ended_at is None else utc(row.ended_at)
    return StoredSession(
        int(row.id),
        int(row.user_id),
        utc(row.created_at),
        utc(row.last_seen_at),
        ended,
        row.ended_reason,
        str(row.language),
        str(row.csrf),
        row.refresh_token,
        None if row.checked_at is None else utc(row.checked_at),
    )


def open_session(
    conn: Connection,
    user_id: int,
    language: str,
    csrf: str,
    now: datetime,
    refresh_token: str | None = None,
) -> tuple[str, StoredSession]:
    """A new session for ``user_id``: returns its id (for the cookie only) and the row.
    ``refresh_token`` (sealed by the caller) marks a session begun at an OpenID provider."""
    session_id = new_session_id()
    row_id = conn.execute(
        web_sessions.insert()
        .values(
            id_hash=session_id_hash(session_id),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            language=language,
            csrf=csrf,
            refresh_token=refresh_token,
            checked_at=None if refresh_token is None else now,
        )
        .returning(web_sessions.c.id)
    ).scalar_one()
    checked = None if refresh_token is None else now
    stored = StoredSession(
        row_id, user_id, now, now, None, None, language, csrf, refresh_token, checked
    )
    return session_id, stored


def set_checked(conn: Connection, row_id: int, refresh_token: str, now: datetime) -> None:
    """The provider confirmed the person: keep its (perhaps rotated) refresh token."""
    conn.execute(
        web_sessions.update()
        .where(web_sessions.c.id == row_id, web_sessions.c.ended_at.is_(None))
        .values(refresh_token=refresh_token, checked_at=now)
    )


def find_session(conn: Connection, session_id: str) -> StoredSession | None:
    """The session with this id, ended or not; None when there is none."""
    row = conn.execute(
        select(web_sessions).where(web_sessions.c.id_hash == session_id_hash(session_id))
    ).first()
    return None if row is None else _session(row)


def session_by_id(conn: Connection, row_id: int) -> StoredSession | None:
    row = conn.execute(select(web_sessions).where(web_sessions.c.id == row_id)).first()
    return None if row is None else _session(row)


def touch_session(conn: Connection, row_id: int, now: datetime, language: str, csrf: str) -> None:
    """Record a use (the idle limit slides) and the session's language and CSRF token."""
    conn.execute(
        web_sessions.update()
        .where(web_sessions.c.id == row_id, web_sessions.c.ended_at.is_(None))
        .values(last_seen_at=now, language=language, csrf=csrf)
    )


def end_session(conn: Connection, row_id: int, now: datetime, reason: str) -> None:
    """End one session (a session ended already keeps its first end)."""
    conn.execute(
        web_sessions.update()
        .where(web_sessions.c.id == row_id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason, refresh_token=None)
    )


def end_user_sessions(conn: Connection, user_id: int, now: datetime, reason: str) -> int:
    """End every open session of ``user_id``; returns how many were open."""
    result = conn.execute(
        web_sessions.update()
        .where(web_sessions.c.user_id == user_id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason, refresh_token=None)
    )
    return int(result.rowcount)


def user_sessions(conn: Connection, user_id: int) -> list[StoredSession]:
    """A user's sessions, newest first (for the admin pages)."""
    rows = conn.execute(
        select(web_sessions)
        .where(web_sessions.c.user_id == user_id)
        .order_by(web_sessions.c.created_at.desc())
    )
    return [_session(r) for r in rows]
