"""Sign-in through an organisation's OpenID provider: the redirect out and the callback.

``GET /web/sign-in/<issuer>`` starts a sign-in: a fresh state, nonce and PKCE verifier go into
a signed, short-lived cookie (``crosscheck_openid``, path ``/web/sign-in/``, SameSite=Lax so
the provider's redirect back brings it), and the browser goes to the provider. The callback
checks it all (:mod:`matcher.actions.openid`), maps the person (:mod:`matcher.actions.identity`)
and begins a server-side session, as the token sign-in does. A refusal shows the sign-in page
with what went wrong, and is in the audit log.

The callback answers with a small page that moves on to the person's start page, not with a
redirect: the provider's redirect makes the callback a cross-site request, and a browser does
not send the session cookie (SameSite=Strict) along a redirect chain that began elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from matcher.actions import identity, sessions
from matcher.actions.openid import OpenIdRefused, Pending, Provider
from matcher.actions.refusal import Refused
from matcher.api.deps import AppState, app_state
from matcher.errors import NotFound
from matcher.web.account import home_for, local_page, sign_in_context
from matcher.web.render import render
from matcher.web.session import current_session, new_csrf

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PENDING_COOKIE = "crosscheck_openid"
PENDING_PATH = "/web/sign-in/"
PENDING_SECONDS = 600  # ten minutes at the provider, then start again
_ROUTE = "GET /web/sign-in/{issuer}/callback"


def _serializer(state: AppState) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(state.source_secret, salt="crosscheck.web.openid")


def _provider(state: AppState, issuer: str) -> Provider:
    provider = state.openid.get(issuer)
    if provider is None:
        raise NotFound("no such sign-in")
    return provider


def _redirect_uri(request: Request, state: AppState, issuer: str) -> str:
    base = state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base}/web/sign-in/{issuer}/callback"


def _refused_page(request: Request, reason: str, next_page: str) -> Response:
    answer = render(
        request,
        "sign_in.html",
        {**sign_in_context(request), "next": next_page, "refused": reason},
        status_code=403,
    )
    answer.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return answer


@router.get("/web/sign-in/{issuer}")
def begin(
    request: Request,
    issuer: str,
    state: Annotated[AppState, Depends(app_state)],
    next: str | None = None,
) -> Response:
    provider = _provider(state, issuer)
    next_page = local_page(next) or ""
    try:
        pending, url = provider.begin(_redirect_uri(request, state, issuer), next_page)
    except OpenIdRefused as refused:
        with state.engine.begin() as conn:
            identity.refuse(conn, issuer, refused.reason, datetime.now(UTC), _ROUTE)
        return _refused_page(request, refused.reason, next_page)
    answer = RedirectResponse(url, status_code=303)
    answer.set_cookie(
        PENDING_COOKIE,
        _serializer(state).dumps(pending.as_dict()),
        max_age=PENDING_SECONDS,
        path=PENDING_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return answer


def _pending(request: Request, state: AppState, issuer: str) -> Pending | None:
    value = request.cookies.get(PENDING_COOKIE)
    if not value:
        return None
    try:
        raw = _serializer(state).loads(value, max_age=PENDING_SECONDS)
    except BadSignature:
        return None
    pending = Pending.from_dict(raw) if isinstance(raw, dict) else None
    return pending if pending is not None and pending.issuer == issuer else None


@router.get("/web/sign-in/{issuer}/callback")
def callback(
    request: Request,
    issuer: str,
    state: Annotated[AppState, Depends(app_state)],
    code: str = "",
    error: str = "",
) -> Response:
    provider = _provider(state, issuer)
    pending = _pending(request, state, issuer)
    now = datetime.now(UTC)
    signed_in = None
    if pending is None:
        reason = "sign-in-expired"  # no cookie, another issuer's, forged, or over ten minutes
    elif error or not code:
        reason = "provider-denied"
    else:
        try:
            signed_in = provider.finish(
                pending,
                request.query_params.get("state", ""),
                code,
                _redirect_uri(request, state, issuer),
            )
        except OpenIdRefused as refused:
            reason = refused.reason
    next_page = "" if pending is None else pending.next
    if signed_in is None:
        with state.engine.begin() as conn:
            identity.refuse(conn, issuer, reason, now, _ROUTE)
        return _refused_page(request, reason, next_page)
    session = current_session(request)
    csrf = new_csrf()
    with state.engine.begin() as conn:
        person = identity.sign_in(
            conn, provider.issuer, signed_in.claims, now, _ROUTE, secret=state.source_secret
        )
        if isinstance(person, Refused):
            return _refused_page(request, person.slug, next_page)
        refresh = identity.seal_refresh(state.source_secret, signed_in.refresh_token)
        session_id, row = sessions.begin(
            conn, person.user_id, session.language, csrf, now, refresh_token=refresh
        )
    session.sign_in(person.user_id, row.id, session_id, csrf)
    answer = render(request, "signed_in.html", {"target": next_page or home_for(person.role)})
    answer.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return answer
