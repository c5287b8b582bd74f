"""Session cookies: what signs in, what expires, and what a forger gets (nothing)."""

from __future__ import annotations

from matcher.web.session import ABSOLUTE_LIMIT, IDLE_LIMIT, Session, SessionCodec


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _signed_in_session(clock: Clock) -> Session:
    session = Session.fresh("en")
    session.sign_in(7, clock.now)
    return session


def test_a_session_round_trips_with_user_language_and_csrf_token() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec(b"s" * 64, clock)
    session = _signed_in_session(clock)
    back = codec.decode(codec.encode(session))
    assert back is not None
    assert (back.user_id, back.language, back.csrf) == (7, "en", session.csrf)


def test_a_cookie_signed_with_another_secret_or_edited_is_no_session() -> None:
    clock = Clock(1_000_000.0)
    ours, theirs = SessionCodec(b"s" * 64, clock), SessionCodec(b"t" * 64, clock)
    forged = theirs.encode(_signed_in_session(clock))
    assert ours.decode(forged) is None
    value = ours.encode(_signed_in_session(clock))
    payload, signature = value.rsplit(".", 1)
    assert ours.decode(payload[:-2] + "xx." + signature) is None
    assert ours.decode("") is None
    assert ours.decode("garbage") is None


def test_sign_in_changes_the_csrf_token() -> None:
    session = Session.fresh("sv")
    before = session.csrf
    session.sign_in(1, 0.0)
    assert session.csrf != before


def test_an_idle_session_expires_and_use_keeps_it_alive() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec(b"s" * 64, clock)
    value = codec.encode(_signed_in_session(clock))
    clock.now += IDLE_LIMIT - 60
    kept = codec.decode(value)
    assert kept is not None and kept.user_id == 7
    value = codec.encode(kept)  # every page view re-signs the cookie
    clock.now += IDLE_LIMIT - 60
    assert codec.decode(value) is not None
    clock.now += 120
    assert codec.decode(value) is None


def test_no_session_outlives_the_absolute_limit_even_when_used() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec(b"s" * 64, clock)
    value = codec.encode(_signed_in_session(clock))
    while clock.now < 1_000_000.0 + ABSOLUTE_LIMIT + 3600:
        clock.now += 3600
        session = codec.decode(value)
        assert session is not None
        value = codec.encode(session)
    final = codec.decode(value)
    assert final is not None and final.user_id is None  # signed out, language kept
    assert final.language == "en"
