"""Sign-in, sign-out and the language switch: the pages every visitor uses.

Signing in checks an API token exactly as the API does (only its hash is stored) and starts a
session; the token is not kept. After sign-in the visitor goes to the page they asked for
(local ``/web/`` paths only: never an open redirect) or their role's start page.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from matcher.actions import access, identity, sessions, throttle
from matcher.actions.principal import Principal
from matcher.actions.refusal import Refused
from matcher.api.deps import AppState, app_state
from matcher.api.forwarded import client_address
from matcher.errors import TooManyAttempts
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import LANGUAGES, current_session, new_csrf, signed_in

__all__ = ["home_for", "local_page", "router", "sign_in_context"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

_HOMES = {
    "admin": "/web/admin/users",
    "company_admin": "/web/admin/users",
    "investigator": "/web/queue",
    "approver": "/web/approvals",
    "data_officer": "/web/extracts",
    "auditor": "/web/home",
}


def home_for(role: str) -> str:
    return _HOMES.get(role, "/web/home")


def local_page(target: str | None) -> str | None:
    # Only our own pages: "//evil.example" and "/web/../v1" are not followed.
    if target and target.startswith("/web/") and "//" not in target and ".." not in target:
        return target
    return None


def sign_in_context(request: Request) -> dict[str, Any]:
    """What the sign-in page offers: the providers' buttons, and the token form or not."""
    settings = app_state(request).settings
    return {
        "issuers": [(i.name, i.label) for i in settings.openid_issuers],
        "token_sign_in": settings.token_sign_in_allowed,
    }


@router.get("/")
def root() -> Response:
    return RedirectResponse("/web/", status_code=303)


@router.get("/web/")
@router.get("/web")
def start(request: Request) -> Response:
    session = current_session(request)
    target = "/web/sign-in" if session.user_id is None else "/web/home?start=1"
    return RedirectResponse(target, status_code=303)


@router.get("/web/home")
def home(
    request: Request,
    principal: Annotated[Principal, Depends(signed_in())],
    start: int = 0,
) -> Response:
    if start and home_for(principal.role) != "/web/home":
        return RedirectResponse(home_for(principal.role), status_code=303)
    return render(request, "home.html")


@router.get("/web/sign-in")
def sign_in_form(
    request: Request,
    next: str | None = None,
    signed_out: int = 0,
) -> Response:
    return render(
        request,
        "sign_in.html",
        {**sign_in_context(request), "next": local_page(next) or "", "signed_out": signed_out},
    )


@router.post("/web/sign-in")
def sign_in(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    # Committed before the answer: a refused sign-in is logged as the API's refusals are, and
    # counts towards the lockout of the address and the token prefix.
    session = current_session(request)
    context = {**sign_in_context(request), "next": local_page(next) or ""}
    if not state.settings.token_sign_in_allowed:
        # Switched off (an organisation's provider signs people in): refused before the token
        # is even looked at, so a token can not be tried here either.
        return render(request, "sign_in.html", {**context, "error": "off"}, status_code=403)
    address = client_address(request, state.settings.trusted_proxies)
    tried = throttle.attempt(state.source_secret, address, token.strip())
    csrf = new_csrf()
    delay = 0.0
    try:
        with state.engine.begin() as conn:
            throttle.refuse_if_locked(conn, tried, datetime.now(UTC))
            user = access.sign_in(
                conn, token.strip(), datetime.now(UTC), "POST /web/sign-in", source=tried.source
            )
            if isinstance(user, Refused):
                if token.strip():
                    delay = throttle.failed(conn, tried, datetime.now(UTC), state.settings)
            else:
                session_id, row = sessions.begin(
                    conn, user.user_id, session.language, csrf, datetime.now(UTC)
                )
                identity.started(conn, user, datetime.now(UTC), {}, "token")
    except TooManyAttempts as exc:
        answer = render(request, "sign_in.html", {**context, "error": "locked"}, 429)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    if isinstance(user, Refused):
        time.sleep(delay)
        return render(
            request,
            "sign_in.html",
            {**context, "error": "empty" if not token.strip() else "unknown"},
            status_code=401,
        )
    session.sign_in(user.user_id, row.id, session_id, csrf)
    return RedirectResponse(local_page(next) or home_for(user.role), status_code=303)


@router.post("/web/sign-out")
def sign_out(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Response:
    session = current_session(request)
    if session.row_id is not None:
        # Ended on the server before the answer: the old cookie opens nothing any more.
        with state.engine.begin() as conn:
            sessions.sign_out(conn, session.row_id, session.user_id, datetime.now(UTC))
    session.sign_out()
    return RedirectResponse("/web/sign-in?signed_out=1", status_code=303)


@router.post("/web/language")
def language(
    request: Request,
    language: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    session = current_session(request)
    if language in LANGUAGES:
        session.language = language
        session.changed = True
    return RedirectResponse(local_page(next) or "/web/", status_code=303)
