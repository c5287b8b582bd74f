"""Browser sessions: server-side for signed-in people, a signed cookie for visitors.

A signed-in person's cookie holds only a random session id (``s.<id>``); the session itself is
a row of ``web_sessions`` (:mod:`matcher.actions.sessions`): user, CSRF token, language, when
it began and was last used, and when and why it ended. Signing out ends the row before the
answer is sent, so the old cookie opens nothing afterwards; so does revoking the user. A
session idle for ``session_idle_seconds`` or older than ``session_absolute_seconds`` (the
settings; 8 h and 12 h by default) is ended the next time it is presented.

A visitor who is not signed in gets a signed cookie with only the CSRF token and the chosen
language (no row: anonymous traffic can not grow the table). A cookie that does not verify
(forged, or signed with another server's secret) is treated as no cookie at all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from matcher.actions import identity, sessions
from matcher.api.deps import AppState, Principal, app_state
from matcher.core.vocabulary import Role
from matcher.errors import MatcherError, PermissionDenied
from matcher.store.users import get_user

__all__ = [
    "COOKIE_NAME",
    "IDLE_LIMIT",
    "LANGUAGES",
    "Session",
    "SessionCodec",
    "SessionMiddleware",
    "SignInRequired",
    "current_session",
    "is_web_path",
    "signed_in",
]

COOKIE_NAME = "crosscheck_session"
IDLE_LIMIT = 8 * 3600  # a working day without a click ends the session
LANGUAGES = ("sv", "en")
WEB_PREFIX = "/web"
STATIC_PREFIX = "/web/static/"
_SERVER_PREFIX = "s."  # a signed cookie never starts so: its payload is base64 or "."


def is_web_path(path: str) -> bool:
    """Pages and their assets; the API under /v1 never gets or reads a session cookie."""
    return path == "/" or path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/")


class SignInRequired(MatcherError):
    """The page needs a signed-in person; the web error handler answers with the sign-in page."""

    status = 401
    slug = "sign-in-required"
    title = "Sign-in required"

    def __init__(self, message: str = "sign in to see this page") -> None:
        super().__init__(message)


@dataclass
class Session:
    """One visitor's session, changed by the routes and written back by the middleware.

    ``row_id`` and ``session_id`` name the server-side session of a signed-in person; the id
    is kept in memory only, to write the cookie back."""

    csrf: str
    language: str
    user_id: int | None = None
    row_id: int | None = None
    session_id: str | None = field(default=None, repr=False)
    changed: bool = field(default=False, compare=False)

    @classmethod
    def fresh(cls, language: str) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), language=language, changed=True)

    def sign_in(self, user_id: int, row_id: int, session_id: str, csrf: str) -> None:
        # A new CSRF token at every sign-in: a token planted before sign-in is worthless after.
        self.csrf, self.user_id, self.row_id, self.session_id = csrf, user_id, row_id, session_id
        self.changed = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(32)
        self.user_id = self.row_id = self.session_id = None
        self.changed = True


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionCodec:
    """Turns visitors' (not signed-in) sessions into signed cookie values and back."""

    secret: bytes
    clock: Callable[[], float] = time.time
    salt: ClassVar[str] = "crosscheck.web.session"

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt=self.salt)

    def encode(self, session: Session) -> str:
        payload = {"c": session.csrf, "l": session.language, "t": self.clock()}
        value = self._serializer().dumps(payload)
        assert isinstance(value, str)
        return value

    def decode(self, value: str | None) -> Session | None:
        """The visitor's session in ``value``, or None when it is missing, forged or expired."""
        if not value or value.startswith(_SERVER_PREFIX):
            return None
        try:
            payload: Any = self._serializer().loads(value)
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        last_used = payload.get("t")
        if not isinstance(last_used, int | float) or self.clock() - last_used > IDLE_LIMIT:
            return None
        csrf, language = payload.get("c"), payload.get("l")
        if not isinstance(csrf, str) or language not in LANGUAGES:
            return None
        return Session(csrf=csrf, language=str(language))


def preferred_language(accept_language: str) -> str:
    """The first of our languages in an Accept-Language header; Swedish when none matches."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "sv"


def _now() -> datetime:
    return datetime.now(UTC)


def _resume(state: AppState, session_id: str, limits: sessions.Limits) -> Session | None:
    now = _now()
    with state.engine.begin() as conn:
        row, _ended = sessions.resume(conn, session_id, now, limits)
        user = None if row is None or row.refresh_token is None else get_user(conn, row.user_id)
    if row is None:
        return None
    # Begun at an OpenID provider: asked again, now and then, whether the person is still there.
    if user is not None and not identity.recheck(
        state.engine, state.openid, state.source_secret, row, user, now
    ):
        return None
    return Session(row.csrf, row.language, row.user_id, row.id, session_id)


def _touch(engine: Engine, session: Session) -> None:
    assert session.row_id is not None
    with engine.begin() as conn:
        sessions.touch(conn, session.row_id, _now(), session.language, session.csrf)


class SessionMiddleware(BaseHTTPMiddleware):
    """Loads the session of web requests into ``request.state`` and writes it back.

    A signed-in session's row is touched on every page view when it is resumed (the idle
    limit slides); a visitor's cookie is re-signed."""

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        super().__init__(app)
        self.codec = codec

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        # Stylesheets need no session; not touching it for them keeps them cheap.
        if not is_web_path(path) or path.startswith(STATIC_PREFIX):
            return await call_next(request)
        state = app_state(request)
        limits = sessions.Limits(
            timedelta(seconds=state.settings.session_idle_seconds),
            timedelta(seconds=state.settings.session_absolute_seconds),
        )
        value = request.cookies.get(COOKIE_NAME)
        session: Session | None = None
        if value and value.startswith(_SERVER_PREFIX):
            session_id = value[len(_SERVER_PREFIX) :]
            if 0 < len(session_id) <= 100:
                session = await run_in_threadpool(_resume, state, session_id, limits)
        else:
            session = self.codec.decode(value)
        if session is None:
            session = Session.fresh(preferred_language(request.headers.get("accept-language", "")))
        request.state.web_session = session
        language = session.language
        response = await call_next(request)
        if session.row_id is not None and session.session_id is not None:
            if session.language != language:  # the language switch (no transaction of its own)
                await run_in_threadpool(_touch, state.engine, session)
            cookie = _SERVER_PREFIX + session.session_id
            max_age = int(state.settings.session_idle_seconds)
        else:
            cookie, max_age = self.codec.encode(session), IDLE_LIMIT
        response.set_cookie(
            COOKIE_NAME,
            cookie,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        # Pages show per-person data: no shared cache may keep them.
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def current_session(request: Request) -> Session:
    session = getattr(request.state, "web_session", None)
    if not isinstance(session, Session):  # only without the middleware: a wiring mistake
        raise RuntimeError("the web session middleware is not installed")
    return session


def signed_in(*roles: Role) -> Callable[..., Principal]:
    """A dependency: the signed-in person, if their role is one of ``roles`` (any when empty).

    The middleware found the session open and its user active a moment ago; the user is read
    again here for their role and company, which an admin may have changed since."""

    def check(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Principal:
        session = current_session(request)
        if session.user_id is None:
            raise SignInRequired()
        with state.engine.connect() as conn:
            row = get_user(conn, session.user_id)
        if row is None or row.revoked_at is not None:
            session.sign_out()
            raise SignInRequired("the session ended: the user was revoked")
        principal = Principal(row.id, row.name, row.role, row.company_id)
        request.state.web_principal = principal
        # Refusals of web pages are logged to the audit log under this actor, as for the API.
        request.state.audit_actor = principal.actor
        if roles and principal.role not in roles:
            raise PermissionDenied(f"role {principal.role} may not open this page")
        return principal

    return check
