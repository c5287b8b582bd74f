"""Activating a policy with its audit entries, shared by the API (``POST /v1/policies``) and
the admin's policies page, so both leave the same entries.

:func:`activate` checks and activates in one transaction (the store writes the
``policy.activate`` entry; activating the active text again is logged as ``already_active``).
A refused file stores nothing, so :func:`record_refusal` logs the attempt in a transaction of
its own: who tried and how many problems the file had, not the problems themselves.
"""

from __future__ import annotations

from sqlalchemy import Engine

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Outcome
from matcher.core.policy import PolicyError
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.policies import ActivationResult, activate_policy

__all__ = ["activate", "record_refusal"]


def activate(engine: Engine, raw: bytes, principal: Principal) -> ActivationResult:
    """Check ``raw`` and make it the active version; raises PolicyError or ConflictError."""
    with engine.begin() as conn:
        now = utcnow()
        result = activate_policy(conn, raw, actor=principal.actor, now=now)
        if not result.changed:
            record(
                conn,
                principal,
                "policy.activate",
                now,
                {"policy": result.policy.id, "version": result.policy.version},
                reason="already_active",
                policy=result.policy.ref,
            )
        return result


def record_refusal(engine: Engine, principal: Principal, error: PolicyError) -> None:
    """Log a refused activation (nothing else is stored)."""
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=principal.actor,
            action="policy.activate",
            outcome=Outcome("denied", f"{error.slug}: {len(error.problems)} problems"),
            now=utcnow(),
        )
