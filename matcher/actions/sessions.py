"""Web sessions: begin one at sign-in, resume it on each page view, end it.

A session is a row in ``web_sessions`` (:mod:`matcher.store.sessions`); the browser holds only
its random id. Resuming checks, on every request, that the session has not ended, that its user
is not revoked, and the idle and absolute limits; a session found past one of them is ended
then and there with the reason. Revoking a user ends their sessions in the same transaction
(:func:`matcher.actions.admin.revoke_user`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Actor
from matcher.core.vocabulary import AuditAction
from matcher.store import sessions as store
from matcher.store.sessions import (
    ENDED_ABSOLUTE,
    ENDED_ADMIN,
    ENDED_IDLE,
    ENDED_REVOKED,
    ENDED_SIGN_OUT,
    StoredSession,
)
from matcher.store.users import get_user

__all__ = ["Limits", "begin", "end", "end_by_admin", "resume", "sign_out", "touch"]


@dataclass(frozen=True)
class Limits:
    """A session idle for ``idle`` or older than ``absolute`` is over."""

    idle: timedelta
    absolute: timedelta


def begin(
    conn: Connection,
    user_id: int,
    language: str,
    csrf: str,
    now: datetime,
    refresh_token: str | None = None,
) -> tuple[str, StoredSession]:
    """A new session for a user who just signed in: its id (for the cookie) and its row."""
    return store.open_session(conn, user_id, language, csrf, now, refresh_token)


def resume(
    conn: Connection, session_id: str, now: datetime, limits: Limits
) -> tuple[StoredSession | None, str | None]:
    """The open session of ``session_id``, or None and why it is over (None: never was)."""
    row = store.find_session(conn, session_id)
    if row is None:
        return None, None
    if row.ended_at is not None:
        return None, row.ended_reason
    reason: str | None = None
    user = get_user(conn, row.user_id)
    if user is None or not user.active:
        reason = ENDED_REVOKED
    elif now - row.created_at > limits.absolute:
        reason = ENDED_ABSOLUTE
    elif now - row.last_seen_at > limits.idle:
        reason = ENDED_IDLE
    if reason is not None:
        store.end_session(conn, row.id, now, reason)
        return None, reason
    # Used now: the idle limit slides. Written here, before the page runs, so the page's own
    # transaction never waits for this one (SQLite has one writer).
    store.touch_session(conn, row.id, now, row.language, row.csrf)
    return row, None


def touch(conn: Connection, row_id: int, now: datetime, language: str, csrf: str) -> None:
    store.touch_session(conn, row_id, now, language, csrf)


def end(conn: Connection, row_id: int, now: datetime, reason: str) -> None:
    store.end_session(conn, row_id, now, reason)


def sign_out(conn: Connection, row_id: int, user_id: int | None, now: datetime) -> None:
    """The person signed out: the session ends, with a ``session.end`` entry."""
    store.end_session(conn, row_id, now, ENDED_SIGN_OUT)
    user = None if user_id is None else get_user(conn, user_id)
    if user is not None:
        record(
            conn,
            user.actor,
            AuditAction.SESSION_END,
            now,
            {"session": str(row_id)},
            reason=ENDED_SIGN_OUT,
        )


def end_by_admin(
    conn: Connection, who: Principal | Actor, row: StoredSession, now: datetime
) -> StoredSession:
    """An admin ends one of someone's sessions; returns it as ended (an ended one keeps its
    first end)."""
    store.end_session(conn, row.id, now, ENDED_ADMIN)
    record(
        conn,
        who,
        AuditAction.SESSION_END,
        now,
        {"session": str(row.id), "user": str(row.user_id)},
        reason=ENDED_ADMIN,
    )
    ended = store.session_by_id(conn, row.id)
    assert ended is not None
    return ended
