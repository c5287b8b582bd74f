"""The visitor's cookie (not signed in): it carries only the CSRF token and the language,
signed; what a forger gets (nothing), and when it expires. Signed-in sessions are rows on the
server: tests/matcher/test_sessions.py and tests/security/test_service_attacks.py."""

from __future__ import annotations

from matcher.web.session import IDLE_LIMIT, Session, SessionCodec


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_visitor_cookie_round_trips_language_and_csrf_token_and_no_user() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec(b"s" * 64, clock)
    session = Session.fresh("en")
    back = codec.decode(codec.encode(session))
    assert back is not None
    assert (back.user_id, back.language, back.csrf) == (None, "en", session.csrf)


def test_a_cookie_signed_with_another_secret_or_edited_is_no_session() -> None:
    clock = Clock(1_000_000.0)
    ours, theirs = SessionCodec(b"s" * 64, clock), SessionCodec(b"t" * 64, clock)
    assert ours.decode(theirs.encode(Session.fresh("sv"))) is None
    value = ours.encode(Session.fresh("sv"))
    payload, signature = value.rsplit(".", 1)
    assert ours.decode(payload[:-2] + "xx." + signature) is None
    assert ours.decode("") is None
    assert ours.decode("garbage") is None
    # a server-side session id is never read as a visitor cookie
    assert ours.decode("s." + value) is None


def test_sign_in_takes_the_new_csrf_token_and_sign_out_makes_another() -> None:
    session = Session.fresh("sv")
    before = session.csrf
    session.sign_in(1, 10, "session-id", "fresh-token")
    assert (session.user_id, session.csrf) == (1, "fresh-token") and before != "fresh-token"
    session.sign_out()
    assert session.user_id is None and session.session_id is None
    assert session.csrf not in (before, "fresh-token")


def test_an_idle_visitor_cookie_expires_and_use_keeps_it_alive() -> None:
    clock = Clock(1_000_000.0)
    codec = SessionCodec(b"s" * 64, clock)
    value = codec.encode(Session.fresh("en"))
    clock.now += IDLE_LIMIT - 60
    kept = codec.decode(value)
    assert kept is not None and kept.language == "en"
    value = codec.encode(kept)  # every page view re-signs the cookie
    clock.now += IDLE_LIMIT - 60
    assert codec.decode(value) is not None
    clock.now += 120
    assert codec.decode(value) is None
