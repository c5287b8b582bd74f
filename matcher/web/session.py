"""Browser sessions: a signed cookie that says who signed in, their language and CSRF token.

Signing in with an API token turns it into a session; the token itself is never put into the
cookie (the cookie is signed, not encrypted). The cookie holds the user id, the synchroniser
CSRF token, the chosen language and two times: when the person signed in and when the session
was last used. A session idle for :data:`IDLE_LIMIT` or older than :data:`ABSOLUTE_LIMIT` is
over; so is one whose user was revoked (checked on every request by :func:`signed_in`).

A cookie that does not verify (forged, or signed with another server's secret) is treated as
no cookie at all: the visitor gets a fresh anonymous session and the sign-in page.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from matcher.api.deps import AppState, Principal, app_state
from matcher.errors import MatcherError, PermissionDenied
from matcher.store.users import get_user

__all__ = [
    "ABSOLUTE_LIMIT",
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
ABSOLUTE_LIMIT = 12 * 3600  # and no session outlives a long working day
LANGUAGES = ("sv", "en")
WEB_PREFIX = "/web"
STATIC_PREFIX = "/web/static/"


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
    """One visitor's session, changed by the routes and written back by the middleware."""

    csrf: str
    language: str
    user_id: int | None = None
    signed_in_at: float | None = None
    changed: bool = field(default=False, compare=False)

    @classmethod
    def fresh(cls, language: str) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), language=language, changed=True)

    def sign_in(self, user_id: int, now: float) -> None:
        # A new CSRF token at every sign-in: a token planted before sign-in is worthless after.
        self.csrf = secrets.token_urlsafe(32)
        self.user_id = user_id
        self.signed_in_at = now
        self.changed = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(32)
        self.user_id = None
        self.signed_in_at = None
        self.changed = True


@dataclass(frozen=True)
class SessionCodec:
    """Turns sessions into cookie values and back; the clock is a parameter for tests."""

    secret: bytes
    clock: Callable[[], float] = time.time
    salt: ClassVar[str] = "crosscheck.web.session"

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt=self.salt)

    def encode(self, session: Session) -> str:
        payload = {
            "c": session.csrf,
            "l": session.language,
            "u": session.user_id,
            "s": session.signed_in_at,
            "t": self.clock(),
        }
        value = self._serializer().dumps(payload)
        assert isinstance(value, str)
        return value

    def decode(self, value: str | None) -> Session | None:
        """The session in ``value``, or None when it is missing, forged or expired."""
        if not value:
            return None
        try:
            payload: Any = self._serializer().loads(value)
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        now = self.clock()
        last_used, started = payload.get("t"), payload.get("s")
        if not isinstance(last_used, int | float) or now - last_used > IDLE_LIMIT:
            return None
        csrf, language, user_id = payload.get("c"), payload.get("l"), payload.get("u")
        if not isinstance(csrf, str) or language not in LANGUAGES:
            return None
        session = Session(csrf=csrf, language=str(language))
        if isinstance(user_id, int) and isinstance(started, int | float):
            if now - started <= ABSOLUTE_LIMIT:
                session.user_id, session.signed_in_at = user_id, float(started)
            else:
                session.changed = True  # signed out by age; keep language and CSRF token
        return session


def preferred_language(accept_language: str) -> str:
    """The first of our languages in an Accept-Language header; Swedish when none matches."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "sv"


class SessionMiddleware(BaseHTTPMiddleware):
    """Loads the session of web requests into ``request.state`` and writes it back.

    The cookie is re-signed on every page view, which is what makes the idle limit sliding.
    """

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        super().__init__(app)
        self.codec = codec

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        # Stylesheets need no session; not re-signing the cookie for them keeps it cheap.
        if not is_web_path(path) or path.startswith(STATIC_PREFIX):
            return await call_next(request)
        session = self.codec.decode(request.cookies.get(COOKIE_NAME))
        if session is None:
            session = Session.fresh(preferred_language(request.headers.get("accept-language", "")))
        request.state.web_session = session
        response = await call_next(request)
        response.set_cookie(
            COOKIE_NAME,
            self.codec.encode(session),
            max_age=IDLE_LIMIT,
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


def signed_in(*roles: str) -> Callable[..., Principal]:
    """A dependency: the signed-in person, if their role is one of ``roles`` (any when empty).

    Looks the user up on every request, so revoking a user ends their sessions at once.
    """

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
