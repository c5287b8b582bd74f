"""Activating a policy with its audit entries, shared by the API (``POST /v1/policies``) and
the admin's policies page, so both leave the same entries.

:func:`activate` checks and activates in one transaction (the store writes the
``policy.activate`` entry; activating the active text again is logged as ``already_active``).
A refused file stores nothing, so :func:`record_refusal` logs the attempt in a transaction of
its own: who tried and how many problems the file had, not the problems themselves.
"""

from __future__ import annotations

from matcher.core.audit import Outcome
from matcher.core.policy import PolicyError
from matcher.service.deps import AppState, Principal, record
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.policies import ActivationResult, activate_policy

__all__ = ["activate", "record_refusal"]


def activate(state: AppState, raw: bytes, principal: Principal) -> ActivationResult:
    """Check ``raw`` and make it the active version; raises PolicyError or ConflictError."""
    with state.engine.begin() as conn:
        result = activate_policy(conn, raw, actor=principal.actor, now=utcnow())
        if not result.changed:
            record(
                conn,
                principal,
                "policy.activate",
                {"policy": result.policy.id, "version": result.policy.version},
                reason="already_active",
                policy=result.policy.ref,
            )
        return result


def record_refusal(state: AppState, principal: Principal, error: PolicyError) -> None:
    """Log a refused activation (nothing else is stored)."""
    with state.engine.begin() as conn:
        audit.append(
            conn,
            actor=principal.actor,
            action="policy.activate",
            outcome=Outcome("denied", f"{error.slug}: {len(error.problems)} problems"),
            now=utcnow(),
        )
