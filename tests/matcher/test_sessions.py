"""Server-side web sessions (issue 10, item 4): what a signed-in person's cookie opens, and
when it stops opening anything: idle, too old, signed out, the user revoked. The session id
itself is never stored (only its hash). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from matcher.actions import admin, sessions
from matcher.core.audit import Actor
from matcher.store.sessions import (
    ENDED_ABSOLUTE,
    ENDED_IDLE,
    ENDED_REVOKED,
    ENDED_SIGN_OUT,
    user_sessions,
)
from matcher.store.tables import web_sessions

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
LIMITS = sessions.Limits(idle=timedelta(hours=8), absolute=timedelta(hours=12))
OPERATOR = Actor(id="console", role="admin", company=None)


@pytest.fixture
def person(engine: Engine) -> int:
    with engine.begin() as conn:
        user, _token = admin.add_user(conn, OPERATOR, T0, "ida", "auditor", None)
    return user.id


def _begin(engine: Engine, user_id: int) -> tuple[str, int]:
    with engine.begin() as conn:
        session_id, row = sessions.begin(conn, user_id, "sv", "csrf-token", T0)
    return session_id, row.id


def _resume(engine: Engine, session_id: str, now: datetime) -> tuple[int | None, str | None]:
    with engine.begin() as conn:
        row, reason = sessions.resume(conn, session_id, now, LIMITS)
    return (None if row is None else row.user_id), reason


def test_the_cookie_id_opens_the_session_and_only_its_hash_is_stored(
    engine: Engine, person: int
) -> None:
    session_id, _ = _begin(engine, person)
    assert _resume(engine, session_id, T0 + timedelta(minutes=5)) == (person, None)
    assert _resume(engine, session_id + "x", T0) == (None, None)
    with engine.connect() as conn:
        stored = [str(r.id_hash) for r in conn.execute(select(web_sessions))]
    assert stored and all(session_id not in value for value in stored)


def test_use_slides_the_idle_limit_but_an_idle_session_ends(engine: Engine, person: int) -> None:
    session_id, _ = _begin(engine, person)
    now = T0
    for _ in range(3):  # a click every 7 hours keeps it open
        now += timedelta(hours=7)
        if now - T0 > LIMITS.absolute:
            break
        assert _resume(engine, session_id, now)[0] == person
    idle_id, _ = _begin(engine, person)
    assert _resume(engine, idle_id, T0 + timedelta(hours=8, seconds=1)) == (None, ENDED_IDLE)
    # once ended it stays ended, even inside the limits again
    assert _resume(engine, idle_id, T0) == (None, ENDED_IDLE)


def test_no_session_outlives_the_absolute_limit_even_when_used(engine: Engine, person: int) -> None:
    session_id, _ = _begin(engine, person)
    now = T0
    while now - T0 <= LIMITS.absolute - timedelta(hours=1):
        now += timedelta(hours=1)
        assert _resume(engine, session_id, now)[0] == person
    now += timedelta(hours=1, seconds=1)
    assert _resume(engine, session_id, now) == (None, ENDED_ABSOLUTE)


def test_sign_out_and_revoking_the_user_end_sessions_with_the_reason(
    engine: Engine, person: int
) -> None:
    signed_out, row_id = _begin(engine, person)
    other, _ = _begin(engine, person)
    with engine.begin() as conn:
        sessions.sign_out(conn, row_id, person, T0 + timedelta(minutes=1))
    assert _resume(engine, signed_out, T0 + timedelta(minutes=2)) == (None, ENDED_SIGN_OUT)
    assert _resume(engine, other, T0 + timedelta(minutes=2))[0] == person
    with engine.begin() as conn:
        admin.revoke_user(conn, OPERATOR, T0 + timedelta(minutes=3), "ida")
    assert _resume(engine, other, T0 + timedelta(minutes=4)) == (None, ENDED_REVOKED)
    with engine.connect() as conn:
        reasons = sorted(str(s.ended_reason) for s in user_sessions(conn, person))
    assert reasons == sorted([ENDED_REVOKED, ENDED_SIGN_OUT])
