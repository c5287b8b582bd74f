"""Activating and retiring a policy with their audit entries, shared by the API
(``POST /v1/policies``, ``POST /v1/policies/{id}/retire``), the admin's policies page and the
CLI, so every door leaves the same entries.

The store (:mod:`matcher.store.policies`) only changes rows; the entries are written here in the
same transaction: ``policy.retire`` for a version retired (by a retire, or by activating a new
version), then ``policy.activate`` for the version activated. :func:`activate` also logs
activating the active text again as ``already_active``. A refused file stores nothing, so
:func:`record_refusal` logs the attempt in a transaction of its own: who tried and how many
problems the file had, not the problems themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from matcher.actions.entries import record
from matcher.actions.principal import Principal, actor_of
from matcher.core.audit import Actor, Outcome
from matcher.core.policy import PolicyError
from matcher.core.vocabulary import AuditAction
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.policies import (
    ActivationResult,
    StoredPolicy,
    activate_policy,
    list_policies,
    retire_policy,
)

__all__ = ["activate", "activate_in", "listed", "record_refusal", "retire", "retire_in"]


def _retired(conn: Connection, who: Principal | Actor, stored: StoredPolicy, now: datetime) -> None:
    record(
        conn,
        who,
        AuditAction.POLICY_RETIRE,
        now,
        {"policy": stored.id, "version": stored.version},
        policy=stored.ref,
    )


def activate_in(
    conn: Connection, raw: bytes, who: Principal | Actor, now: datetime
) -> ActivationResult:
    """Activate ``raw`` in the caller's transaction with its entries (none when nothing
    changed); raises PolicyError or ConflictError."""
    result = activate_policy(conn, raw, actor=actor_of(who), now=now)
    if result.changed:
        if result.retired is not None:
            _retired(conn, who, result.retired, now)
        record(
            conn,
            who,
            AuditAction.POLICY_ACTIVATE,
            now,
            {"policy": result.policy.id, "version": result.policy.version},
            policy=result.policy.ref,
        )
    return result


def activate(engine: Engine, raw: bytes, principal: Principal) -> ActivationResult:
    """Check ``raw`` and make it the active version; raises PolicyError or ConflictError."""
    with engine.begin() as conn:
        now = utcnow()
        result = activate_in(conn, raw, principal, now)
        if not result.changed:
            record(
                conn,
                principal,
                AuditAction.POLICY_ACTIVATE,
                now,
                {"policy": result.policy.id, "version": result.policy.version},
                reason="already_active",
                policy=result.policy.ref,
            )
        return result


def retire_in(
    conn: Connection, policy_id: str, who: Principal | Actor, now: datetime
) -> StoredPolicy:
    """Retire the active version of ``policy_id`` in the caller's transaction, with its entry;
    raises NotFound when no version is active."""
    stored = retire_policy(conn, policy_id, actor=actor_of(who), now=now)
    _retired(conn, who, stored, now)
    return stored


def retire(engine: Engine, policy_id: str, who: Principal | Actor) -> StoredPolicy:
    """:func:`retire_in` in a transaction of its own."""
    with engine.begin() as conn:
        return retire_in(conn, policy_id, who, utcnow())


def listed(conn: Connection, principal: Principal) -> list[StoredPolicy]:
    """Every activated version (``GET /v1/policies``, the admin's policies page), with the
    ``policy.list`` entry in the caller's transaction."""
    found = list_policies(conn)
    record(conn, principal, AuditAction.POLICY_LIST, utcnow())
    return found


def record_refusal(engine: Engine, principal: Principal, error: PolicyError) -> None:
    """Log a refused activation (nothing else is stored)."""
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=principal.actor,
            action=AuditAction.POLICY_ACTIVATE,
            outcome=Outcome("denied", f"{error.slug}: {len(error.problems)} problems"),
            now=utcnow(),
        )
