"""Security headers on every answer, and HEAD wherever GET is answered.

:class:`SecurityHeaders` wraps the whole application (outside even the error handling), so
pages, API answers, static files, redirects and error pages (500 included) all carry them:

- ``Content-Security-Policy``: scripts, styles and images from this origin only, no inline
  script or style, no plugins, no framing (``frame-ancestors 'none'``), forms to this origin.
  The API documentation (``/docs``, :mod:`matcher.api.docs`) is served from this origin with
  its bootstrap in a file, so it runs under the same policy (FastAPI's CDN page needed a weaker
  one).
- ``X-Frame-Options: DENY`` for browsers without CSP 2, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``Permissions-Policy`` turning off powerful features, and
  ``Cross-Origin-Opener-Policy: same-origin``.
- ``Strict-Transport-Security`` only when the request came over https, directly or according
  to a trusted proxy's ``X-Forwarded-Proto`` (:mod:`matcher.api.forwarded`): over plain http the
  header is meaningless, and a spoofed one must not pin a host.

FastAPI answers HEAD only where a route declares it; here a HEAD request is served as the GET
it stands for, with the body dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher.api.forwarded import is_https

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
_HSTS = "max-age=31536000; includeSubDomains"
_FIXED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
        "clipboard-read=(), display-capture=(), fullscreen=()"
    ),
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer; HEAD served as GET."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str]) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")
        https = is_https(HTTPConnection(scope), self.trusted_proxies)
        policy = CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                for name, value in _FIXED.items():
                    headers[name] = value
                if https:
                    headers["strict-transport-security"] = _HSTS
            elif message["type"] == "http.response.body" and head:
                message = dict(message, body=b"")
            await send(message)

        await self.app(scope, receive, send_with_headers)
