"""Rendering pages, and the error pages that replace problem+json for browser requests.

:class:`Pages` holds one Jinja environment per language; :func:`render` picks the one of the
visitor's session and fills in what every page needs (who is signed in, the CSRF token, the
current path for the language switch). :func:`install_error_pages` wraps the app's existing
error handlers: API paths keep their problem+json answers; web paths get a friendly page with
the same status and never a stack trace. The wrapped handler still runs first for web paths, so
whatever it records (the audit log's denied attempts, the server log of a 500) still happens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from matcher.api.deps import Principal
from matcher.errors import MatcherError
from matcher.web.csrf import FIELD as CSRF_FIELD
from matcher.web.session import LANGUAGES, SignInRequired, current_session, is_web_path

__all__ = ["Pages", "install_error_pages", "pages_of", "render"]

_log = logging.getLogger("matcher.web")

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


@dataclass(frozen=True)
class Pages:
    environments: Mapping[str, Environment]


def pages_of(request: Request) -> Pages:
    pages = request.app.state.web_pages
    assert isinstance(pages, Pages)
    return pages


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    session = current_session(request)
    principal = getattr(request.state, "web_principal", None)
    env = pages_of(request).environments[session.language]
    html = env.get_template(template).render(
        {
            "principal": principal if isinstance(principal, Principal) else None,
            "csrf_field": CSRF_FIELD,
            "csrf_token": session.csrf,
            "path": request.url.path,
            "languages": LANGUAGES,
            **(context or {}),
        }
    )
    return HTMLResponse(html, status_code=status_code)


def _error_page(request: Request, status: int, kind: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "kind": kind}, status_code=status)


def _kind(exc: Exception, status: int) -> str:
    if getattr(exc, "slug", None) == "csrf":
        return "csrf"
    return {403: "forbidden", 404: "not_found", 405: "not_found", 422: "not_found"}.get(
        status, "internal"
    )


def install_error_pages(app: FastAPI) -> None:
    """Wrap every installed error handler: HTML for web paths, the old answer elsewhere."""
    for exc_class in (MatcherError, StarletteHTTPException, RequestValidationError, Exception):
        previous: Handler | None = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _wrapped(previous))


def _wrapped(previous: Handler | None) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if isinstance(exc, SignInRequired):
            # Not an attack, just an expired or missing session: back to the sign-in page,
            # then to the page asked for (a local path only, never another site).
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/web/sign-in?next={target}", status_code=303)
        answer: Response | None = None
        if previous is not None:
            result = previous(request, exc)
            answer = await result if isinstance(result, Awaitable) else result
        if not is_web_path(request.url.path):
            if answer is None:
                raise exc
            return answer
        status = answer.status_code if answer is not None else 500
        if isinstance(exc, RequestValidationError):
            status = 404  # a malformed id in a URL is a page that does not exist
        if status >= 500 and previous is None:
            _log.error("web page failed", exc_info=exc)
        if getattr(request.state, "web_session", None) is None:
            # The session middleware did not run (it is the one that failed): plain text.
            return HTMLResponse("<h1>Error</h1>", status_code=status)
        return _error_page(request, status, _kind(exc, status))

    return handler
