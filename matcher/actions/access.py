"""Signing in with a token, for the API's bearer header and the web's sign-in form alike.

A token that is missing, unknown or revoked is refused the same way at both doors: an
``access.denied`` entry with reason ``unauthenticated``, naming the token's user when the token
is known (even revoked), else ``anonymous``; never the token itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.entries import record_denied
from matcher.actions.principal import ANONYMOUS, Principal
from matcher.actions.refusal import Refused
from matcher.actions.throttle import tally_refusal
from matcher.core.audit import Actor
from matcher.errors import AuthenticationError
from matcher.store.users import token_holder, user_for_token

__all__ = ["authenticate", "sign_in", "token_actor"]


def token_actor(conn: Connection, token: str) -> Actor:
    """Who the log names for an attempt with ``token``: its user if known, else anonymous."""
    holder = token_holder(conn, token) if token else None
    return ANONYMOUS if holder is None else Actor(str(holder[0]), holder[1], holder[2])


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The active user holding ``token``, or None (no entry: the caller decides how to refuse)."""
    user = user_for_token(conn, token) if token else None
    return None if user is None else Principal(user.id, user.name, user.role, user.company_id)


def sign_in(
    conn: Connection, token: str, now: datetime, route: str, *, source: str
) -> Principal | Refused:
    """The web sign-in: the principal, or a refusal already logged as ``access.denied``
    (``route`` is "METHOD /path template", as the API's refusals name theirs). A refusal of
    an unknown token is tallied for ``source`` (a keyed hash of the address) instead."""
    principal = authenticate(conn, token)
    if principal is not None:
        return principal
    error = AuthenticationError("the token is unknown or revoked")
    actor = token_actor(conn, token)
    if actor == ANONYMOUS:
        tally_refusal(conn, source, route, now)
    else:
        record_denied(conn, actor, error.slug, now, {"route": route})
    return Refused(error.status, error.slug, error.title, str(error))
