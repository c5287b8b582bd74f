"""Activated legal-basis policies: the exact TOML text, its digest, who activated and retired it.

A policy file is checked by :func:`matcher.core.policy.check_policy` before it is stored; a file
with any problem is refused with all of them. One version per policy id is active at a time:
activating a new version retires the old one in the same transaction. This module only changes
rows: the ``policy.activate`` / ``policy.retire`` audit entries are written by the callers
(:mod:`matcher.actions.policies`) in the same transaction. Runs read the active policy from here
(:func:`active_policy`), never from a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from matcher.core.audit import Actor, PolicyRef
from matcher.core.policy import Policy, PolicyError, Problem, check_policy, load_policy
from matcher.errors import ConflictError, InvalidInput, NoActivePolicy, NotFound
from matcher.store.database import utc
from matcher.store.tables import policies

__all__ = [
    "NO_ACTIVE_HINT",
    "ActivationResult",
    "StoredPolicy",
    "activate_policy",
    "active_policy",
    "list_policies",
    "policy_problems",
    "retire_policy",
]

NO_ACTIVE_HINT = "activate one with `matcher policies activate FILE`"


@dataclass(frozen=True)
class StoredPolicy:
    """One activated policy version as stored, with the parsed :class:`Policy`."""

    id: str
    version: str
    digest: str
    raw: str
    status: str
    activated_at: datetime
    activated_by: str
    retired_at: datetime | None
    retired_by: str | None

    @property
    def policy(self) -> Policy:
        return load_policy(self.raw.encode("utf-8"))

    @property
    def ref(self) -> PolicyRef:
        return PolicyRef(self.id, self.digest)


@dataclass(frozen=True)
class ActivationResult:
    """What :func:`activate_policy` did: the policy now active, the version it retired (if
    any), and whether anything changed (activating the active text again is a no-op)."""

    policy: StoredPolicy
    retired: StoredPolicy | None
    changed: bool


def _stored(row: Any) -> StoredPolicy:
    return StoredPolicy(
        id=row.id,
        version=row.version,
        digest=row.digest,
        raw=row.raw,
        status=row.status,
        activated_at=utc(row.activated_at),
        activated_by=row.activated_by,
        retired_at=None if row.retired_at is None else utc(row.retired_at),
        retired_by=row.retired_by,
    )


def policy_problems(raw: bytes) -> list[Problem]:
    """Every problem that stops ``raw`` from being activated: the checker's list, plus a file
    that is not UTF-8 or does not say ``status = "active"`` (a draft would deny every run)."""
    problems = check_policy(raw)
    if problems:
        return problems
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return [Problem("", "the file is not UTF-8 text")]
    if load_policy(raw).status != "active":
        return [
            Problem(
                "status",
                f'the file says status = "{load_policy(raw).status}"; only a file with '
                'status = "active" can be activated (set it after the review)',
            )
        ]
    return []


def _get(conn: Connection, policy_id: str, version: str) -> StoredPolicy | None:
    row = conn.execute(
        select(policies).where(policies.c.id == policy_id, policies.c.version == version)
    ).first()
    return None if row is None else _stored(row)


def _active(conn: Connection, policy_id: str) -> StoredPolicy | None:
    row = conn.execute(
        select(policies).where(policies.c.id == policy_id, policies.c.status == "active")
    ).first()
    return None if row is None else _stored(row)


def _retire(conn: Connection, current: StoredPolicy, actor: Actor, now: datetime) -> StoredPolicy:
    conn.execute(
        update(policies)
        .where(policies.c.id == current.id, policies.c.version == current.version)
        .values(status="retired", retired_at=now, retired_by=actor.id)
    )
    retired = _get(conn, current.id, current.version)
    assert retired is not None
    return retired


def activate_policy(
    conn: Connection, raw: bytes, *, actor: Actor, now: datetime
) -> ActivationResult:
    """Check ``raw`` and make it the active version of its policy id.

    Raises :class:`PolicyError` listing every problem, or :class:`ConflictError` when this id and
    version were activated before with different text (bump ``version`` after any edit).
    """
    problems = policy_problems(raw)
    if problems:
        raise PolicyError(problems)
    parsed = load_policy(raw)
    text = raw.decode("utf-8")
    existing = _get(conn, parsed.id, parsed.version)
    if existing is not None and existing.digest != parsed.digest:
        raise ConflictError(
            f"version {parsed.version} of policy {parsed.id} was activated before with other "
            f"content (digest {existing.digest}); every edit is a new version: bump `version`"
        )
    current = _active(conn, parsed.id)
    if current is not None and current.digest == parsed.digest:
        return ActivationResult(current, None, changed=False)
    retired = None if current is None else _retire(conn, current, actor, now)
    values = {
        "digest": parsed.digest,
        "raw": text,
        "status": "active",
        "activated_at": now,
        "activated_by": actor.id,
        "retired_at": None,
        "retired_by": None,
    }
    try:
        with conn.begin_nested():
            if existing is None:
                conn.execute(
                    insert(policies).values(id=parsed.id, version=parsed.version, **values)
                )
            else:  # a retired version activated again: same text, so the same row
                conn.execute(
                    update(policies)
                    .where(policies.c.id == parsed.id, policies.c.version == parsed.version)
                    .values(**values)
                )
    except IntegrityError as exc:
        raise ConflictError(
            f"policy {parsed.id} was activated by someone else at the same time; list the "
            "policies and try again"
        ) from exc
    stored = _get(conn, parsed.id, parsed.version)
    assert stored is not None
    return ActivationResult(stored, retired, changed=True)


def retire_policy(conn: Connection, policy_id: str, *, actor: Actor, now: datetime) -> StoredPolicy:
    """Retire the active version of ``policy_id``; runs can not use it from now on."""
    current = _active(conn, policy_id)
    if current is None:
        raise NotFound(f"policy {policy_id} has no active version to retire")
    return _retire(conn, current, actor, now)


def list_policies(conn: Connection) -> list[StoredPolicy]:
    """Every activated version, active first, then by id and activation time."""
    rows = conn.execute(
        select(policies).order_by(
            (policies.c.status != "active"), policies.c.id, policies.c.activated_at.desc()
        )
    )
    return [_stored(r) for r in rows]


def active_policy(conn: Connection, policy_id: str | None = None) -> StoredPolicy:
    """The active version of ``policy_id``, or the only active policy when it is None.

    Raises :class:`NoActivePolicy` when there is none, and :class:`InvalidInput` when several
    policies are active and none was named.
    """
    query = select(policies).where(policies.c.status == "active")
    if policy_id is not None:
        query = query.where(policies.c.id == policy_id)
    rows = conn.execute(query.order_by(policies.c.id)).all()
    if not rows:
        named = f"policy {policy_id} is not active" if policy_id else "there is no active policy"
        raise NoActivePolicy(f"{named}, so no run can start; {NO_ACTIVE_HINT}")
    if len(rows) > 1:
        ids = ", ".join(r.id for r in rows)
        raise InvalidInput(f"several policies are active ({ids}); name the one to run")
    return _stored(rows[0])
