"""Writing an action's audit entry: one function, so every door names the same things.

An action calls :func:`record` in the transaction of the change it made (or of the read it
answered), so the change and its entry commit together. A refused attempt is
:func:`record_denied`; the app's error handler calls it for errors, and actions whose refusal is
not an error (a failed web sign-in) call it themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.principal import Principal, actor_of
from matcher.core.audit import Actor, Outcome, PolicyRef
from matcher.core.vocabulary import ACCESS_DENIED, AuditAction
from matcher.store import audit

__all__ = ["record", "record_denied"]


def record(
    conn: Connection,
    who: Principal | Actor,
    action: AuditAction,
    now: datetime,
    object_ids: Mapping[str, str] | None = None,
    *,
    reason: str | None = None,
    policy: PolicyRef | None = None,
    purpose: str | None = None,
    case_reference: str | None = None,
    fields: Sequence[str] = (),
    request_id: str | None = None,
) -> int:
    """Append an "allowed" entry for ``who`` in the caller's transaction; returns its seq."""
    return audit.append(
        conn,
        actor=actor_of(who),
        action=action,
        outcome=Outcome("allowed", reason),
        now=now,
        object_ids=object_ids,
        policy=policy,
        purpose=purpose,
        case_reference=case_reference,
        fields=fields,
        request_id=request_id,
    )


def record_denied(
    conn: Connection, actor: Actor, reason: str, now: datetime, object_ids: Mapping[str, str]
) -> int:
    """Append an ``access.denied`` entry: ``reason`` is the refusal's slug (``unauthenticated``,
    ``forbidden``, ``not-found``), ``object_ids`` the route and its parameters."""
    return audit.append(
        conn,
        actor=actor,
        action=ACCESS_DENIED,
        outcome=Outcome("denied", reason),
        now=now,
        object_ids=object_ids,
    )
