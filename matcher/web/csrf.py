"""CSRF protection: a synchroniser token kept in the session and required in every form POST.

The token is a hidden ``csrf_token`` field in each form the pages render; every web router
declares :func:`verify_csrf`, so a state-changing request without the session's token is
refused (403, a friendly page) before the route runs. The SameSite=Strict cookie is a second
line, not the only one: older browsers and same-site subdomains do not honour it.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from matcher.errors import MatcherError
from matcher.web.session import current_session

__all__ = ["FIELD", "CsrfRefused", "verify_csrf"]

FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(MatcherError):
    """A form came without this session's CSRF token (a forged or stale form)."""

    status = 403
    slug = "csrf"
    title = "Form refused"

    def __init__(self) -> None:
        super().__init__("the form did not carry this session's CSRF token; reload the page")


async def verify_csrf(request: Request) -> None:
    """A router dependency: every POST must carry the session's token."""
    if request.method in _SAFE_METHODS:
        return
    session = current_session(request)
    form = await request.form()  # cached by starlette: the route's Form fields read it again
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRefused()
