"""Who may talk to `connector ui`: the one browser that opened the one-time link.

The server listens on 127.0.0.1 only, but any web page the data officer has open could still
send requests to it, and a DNS-rebinding page could even read the answers. So:

- the link printed at start carries a one-time token; the first request with it gets an
  HttpOnly, SameSite=Strict session cookie and the token is spent (a second use gets 403);
- every other request without that cookie gets 403;
- the Host header must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (DNS rebinding);
- every POST carries the session's form token (CSRF); a foreign Origin or a cross-site
  ``Sec-Fetch-Site`` is refused;
- every answer has a strict Content-Security-Policy (no inline script or style), is never
  framed, never cached, and sends no Referer.

Tokens are compared in constant time. Nothing here logs a request.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

__all__ = ["COOKIE", "SECURITY_HEADERS", "START_PATH", "Guard", "GuardMiddleware"]

COOKIE: Final = "crosscheck_ui"
START_PATH: Final = "/start"
SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """The secrets of one run: the one-time start token, then the session and form tokens."""

    def __init__(self, port: int, new_token: Callable[[], str] = lambda: secrets.token_urlsafe(32)):
        self.port = port
        self._start: str | None = new_token()
        self._session = new_token()
        self.form_token = new_token()
        self._lock = threading.Lock()

    @property
    def start_url(self) -> str:
        with self._lock:
            if self._start is None:
                raise RuntimeError("the start link was already used")
            return f"http://127.0.0.1:{self.port}{START_PATH}?token={self._start}"

    def exchange(self, token: str) -> str | None:
        """The session cookie's value for the right start token, once; then None."""
        with self._lock:
            if self._start is None or not hmac.compare_digest(token, self._start):
                return None
            self._start = None
            return self._session

    def has_session(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie, self._session)

    def form_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.form_token)

    def host_ok(self, host: str | None) -> bool:
        return host in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def origin_ok(self, origin: str | None, fetch_site: str | None) -> bool:
        """Our own Origin, or none. Under ``Referrer-Policy: no-referrer`` Chromium sends
        ``Origin: null`` even for our own forms, so the browser's ``Sec-Fetch-Site`` decides
        then; the form token and the SameSite=Strict cookie are checked all the same."""
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        return origin in (
            None,
            "null",
            f"http://127.0.0.1:{self.port}",
            f"http://localhost:{self.port}",
        )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class GuardMiddleware:
    """ASGI middleware applying :class:`Guard` to every request (form tokens are checked by
    the routes, which read the form)."""

    def __init__(self, app: App, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        if not self.guard.host_ok(headers.get("host")):
            await _refuse(secured, 403, "wrong Host header: open the link `connector ui` printed")
            return
        if scope["method"] not in ("GET", "HEAD") and not self.guard.origin_ok(
            headers.get("origin"), headers.get("sec-fetch-site")
        ):
            await _refuse(secured, 403, "request from another site refused")
            return
        if scope["path"] == START_PATH:
            query = scope.get("query_string", b"").decode("latin-1")
            token = next(
                (p[6:] for p in query.split("&") if p.startswith("token=")),
                "",
            )
            session = self.guard.exchange(token)
            if session is None:
                await _refuse(secured, 403, None)
                return
            await secured(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", b"/"),
                        (
                            b"set-cookie",
                            f"{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        ),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await secured({"type": "http.response.body", "body": b""})
            return
        if not self.guard.has_session(_cookie(headers.get("cookie"), COOKIE)):
            await _refuse(secured, 403, None)
            return
        await self.app(scope, receive, secured)


_FORBIDDEN_PAGE: Final = (
    "<!doctype html><html lang=sv><meta charset=utf-8><title>403</title>"
    "<h1>Åtkomst nekad / Access denied</h1>"
    "<p>Länken har redan använts eller är fel. Starta om <code>connector ui</code> och öppna "
    "den nya länken.</p><p>The link has already been used or is wrong. Start "
    "<code>connector ui</code> again and open the new link it prints.</p>"
)


async def _refuse(send: Send, status: int, reason: str | None) -> None:
    body = (reason if reason is not None else _FORBIDDEN_PAGE).encode("utf-8")
    kind = b"text/plain; charset=utf-8" if reason is not None else b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
