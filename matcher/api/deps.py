"""Authentication and role checks: FastAPI dependencies every route declares.

A request carries ``Authorization: Bearer cc_...``; the token's SHA-256 is looked up (only the
hash is stored) and must belong to an unrevoked user. Each route names the roles it admits with
``Depends(require(Role.ADMIN, ...))``: no or bad token -> 401, wrong role -> 403. Whether an
object belongs to the caller's company is decided by the repository queries (404 when not).

Every such refusal is an audit entry (:func:`record_denied`, called from the app's error
handler): the actor is the token's user when the token is known (even revoked); never the
token. Anonymous refusals are tallied per source, route and minute instead
(``actions.throttle``), and failed tokens count towards the source's and the token prefix's
lockout (429). Allowed
actions are recorded by the actions they call (:mod:`matcher.actions.entries`), in the
request's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from matcher.actions import entries, throttle
from matcher.actions.access import token_actor
from matcher.actions.openid import Providers
from matcher.actions.principal import ANONYMOUS, Principal
from matcher.api.forwarded import client_address
from matcher.core.audit import Actor, PersonalDataInEntry
from matcher.core.vocabulary import Role
from matcher.errors import AuthenticationError, MatcherError, PermissionDenied
from matcher.settings import Settings
from matcher.store.blobs import BlobStore
from matcher.store.database import utcnow
from matcher.store.tables import ROLES
from matcher.store.users import user_for_token

__all__ = [
    "ANONYMOUS",
    "AppState",
    "Conn",
    "Principal",
    "app_state",
    "connection",
    "current_principal",
    "record_denied",
    "require",
    "source_of",
]


@dataclass(frozen=True)
class AppState:
    """What ``create_app`` builds once and every request uses."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    reveal_key_fingerprint: str
    # Keys the throttle's and the log's hashes of client addresses and token prefixes.
    source_secret: bytes = b""
    # Wakes this process's background worker when a door queued a run (set by create_app).
    nudge_worker: Callable[[], None] = lambda: None
    # The OpenID providers of the sign-in page (settings.openid_issuers), each made once.
    openid: Providers = field(default_factory=lambda: Providers(()))


def source_of(state: AppState, request: Request) -> str:
    """The keyed hash the throttle and the audit log name the request's client address by."""
    address = client_address(request, state.settings.trusted_proxies)
    return throttle.attempt(state.source_secret, address, "").source


def app_state(request: Request) -> AppState:
    state = request.app.state.matcher
    assert isinstance(state, AppState)
    return state


def connection(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Connection]:
    """A connection in one transaction for the request, committed when the route returns.

    Declare it only through :data:`Conn`: that uses ``scope="function"``, so the COMMIT runs
    after the route function has returned and before the response is sent. With the default
    (request) scope FastAPI would send the response first and commit afterwards, and a crash
    in between would lose a disclosure's audit entry or an acknowledged change. If the commit
    fails, the error reaches the problem handlers and the client gets a 500 and no body.
    """
    with state.engine.begin() as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection, scope="function")]
"""The request's connection, committed before the response leaves (see :func:`connection`)."""


_bearer = HTTPBearer(auto_error=False, description="A Crosscheck API token: cc_...")


def current_principal(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError()
    token = credentials.credentials
    address = client_address(request, state.settings.trusted_proxies)
    tried = throttle.attempt(state.source_secret, address, token)
    delay = 0.0
    with state.engine.begin() as conn:
        throttle.refuse_if_locked(conn, tried, utcnow())
        user = user_for_token(conn, token)
        if user is None:
            # A revoked token still names its user: the log says who tried, not "anonymous".
            request.state.audit_actor = token_actor(conn, token)
            delay = throttle.failed(conn, tried, utcnow(), state.settings)
    if user is None:
        time.sleep(delay)  # a sync dependency: runs in the thread pool, not the event loop
        raise AuthenticationError("the bearer token is unknown or revoked")
    principal = Principal(user.id, user.name, user.role, user.company_id)
    request.state.audit_actor = principal.actor
    return principal


_MAX_PARAM = 100


def _route_object(request: Request) -> dict[str, str]:
    route = request.scope.get("route")
    template = getattr(route, "path", None) or "(no route)"
    found = {"route": f"{request.method} {template}"}
    for name, value in request.path_params.items():
        if name != "route":
            found[name] = str(value)[:_MAX_PARAM]
    return found


def record_denied(state: AppState, request: Request, error: MatcherError) -> int:
    """Append a "denied" entry for a refused request (401, 403, 404 on an object), in its own
    transaction: the request's own transaction rolls back with the error."""
    actor = getattr(request.state, "audit_actor", None)
    if not isinstance(actor, Actor):
        actor = ANONYMOUS
    objects = _route_object(request)
    if actor == ANONYMOUS:
        with state.engine.begin() as conn:
            throttle.tally_refusal(conn, source_of(state, request), objects["route"], utcnow())
        return 0
    with state.engine.begin() as conn:
        try:
            with conn.begin_nested():
                return _append_denied(conn, actor, objects, error)
        except PersonalDataInEntry:
            # Someone put what looks like a personal identity number or e-mail address into
            # the URL. The attempt is still logged, without the values.
            withheld = {k: (v if k == "route" else "(withheld)") for k, v in objects.items()}
            return _append_denied(conn, actor, withheld, error)


def _append_denied(
    conn: Connection, actor: Actor, objects: Mapping[str, str], error: MatcherError
) -> int:
    return entries.record_denied(conn, actor, error.slug, utcnow(), objects)


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only ``roles``; use as ``Depends(require(Role.ADMIN))``."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise PermissionDenied(
                f"role {principal.role} may not use this route; it admits {', '.join(roles)}"
            )
        return principal

    return check
