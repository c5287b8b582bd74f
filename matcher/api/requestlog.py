"""One log event per HTTP request, and the request id that ties it to the audit log.

:class:`RequestLog` wraps the application (inside the security headers, outside the error
handling, so a 500 is logged too). Per request it

- takes the caller's ``X-Request-ID`` when it is a plain id (8-64 letters, digits, ``.``, ``_``,
  ``-``, nothing that looks like a personnummer or an e-mail address), else makes one: a reverse
  proxy's id stays the same through both logs; an id smuggling data is not believed;
- returns the id in the ``X-Request-ID`` answer header;
- makes every audit entry written while answering carry it (:func:`matcher.store.audit.answering`);
- tells the metrics (:mod:`matcher.api.metrics`) method, route template, status and duration;
- logs one ``request`` event: request id, method, route *template* (``/v1/hits/{hit_id}``, never
  the path with its values, never a query string), status, duration in ms and the actor's opaque
  id. Never a header, a token, a query or a body.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher.core.audit import Actor, looks_personal
from matcher.store.audit import answering

__all__ = ["REQUEST_ID_HEADER", "RequestLog", "request_id_from"]

REQUEST_ID_HEADER = "X-Request-ID"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")
_log = logging.getLogger("matcher.request")

Observer = Callable[[str, str, int, float], None]
"""Told (method, route template, status, seconds) of every answered request: the metrics."""


def request_id_from(offered: str | None) -> str:
    """The caller's id when it is a plain id, else a new random one (32 hex digits)."""
    if offered is not None and _ID.fullmatch(offered) and not looks_personal(offered):
        return offered
    return secrets.token_hex(16)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path:
        return "(no route)"
    # A mount (static files) is named by its prefix: the file name may be anything.
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


class RequestLog:
    """ASGI middleware: request id in and out, and the ``request`` log event."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
        request_id = request_id_from(offered)
        scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            with answering(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            actor = scope["state"].get("audit_actor")
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            if self.observe is not None:
                self.observe(scope["method"], route, status, seconds)
            _log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "actor_id": actor.id if isinstance(actor, Actor) else None,
                },
            )
