"""People who sign in through an OpenID provider: who they are here, and whether they still are.

:func:`sign_in` turns an ID token's claims (already checked by :mod:`matcher.actions.openid`)
into a user: the issuer's mapping gives the company and the role; the first sign-in creates the
user ("just in time", ``user.create`` by ``openid:<issuer>``), a later one with other groups
changes the role (``user.update``). Claims that map to no company or no role are refused and
logged (``access.denied``, reason ``no-company`` / ``no-role``); so is a user revoked here.
Every sign-in that goes through is a ``session.start`` naming the issuer and the provider's
subject id, never the person's name.

:func:`recheck` asks the provider, every ``recheck_seconds``, whether it still vouches for a
signed-in person (a refresh-token grant). A person removed or disabled there is signed out
here at their next page: the session ends (``provider-ended``) with a ``session.end`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from matcher.actions.entries import record, record_denied
from matcher.actions.openid import OpenIdRefused, Providers
from matcher.actions.principal import ANONYMOUS, Principal
from matcher.actions.refusal import Refused
from matcher.core.audit import Actor, looks_personal
from matcher.core.vocabulary import COMPANY_ROLES, AuditAction
from matcher.crypto import open_secret, seal_secret, source_tag
from matcher.settings import OpenIdIssuer
from matcher.store import audit, sessions, users
from matcher.store.sessions import StoredSession
from matcher.store.users import User, audit_object

__all__ = [
    "REFRESH_PURPOSE",
    "Mapped",
    "map_claims",
    "recheck",
    "refuse",
    "seal_refresh",
    "sign_in",
    "started",
]

REFRESH_PURPOSE = "crosscheck web session refresh token"
ENDED_ROLE_CHANGED = "role-changed"


@dataclass(frozen=True)
class Mapped:
    """What an issuer's claims give here: the subject, the display name, company and role."""

    subject: str
    name: str
    company_id: str | None
    role: str


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [value for value in claim if isinstance(value, str)]
    return []


def _first_mapped(claim: Any, mapping: Mapping[str, str]) -> str | None:
    """What the first of the claim's values that ``mapping`` knows maps to."""
    return next((mapping[v] for v in _values(claim) if v in mapping), None)


def map_claims(issuer: OpenIdIssuer, claims: Mapping[str, Any]) -> Mapped | str:
    """The mapped person, or why not (``no-subject``, ``no-company``, ``no-role``)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        return "no-subject"
    role = _first_mapped(claims.get(issuer.role_claim), issuer.role_map)
    if role is None:
        return "no-role"
    company: str | None
    if role not in COMPANY_ROLES:
        company = None  # the operator's roles (admin, auditor) belong to no company
    elif issuer.company is not None:
        company = issuer.company
    else:
        assert issuer.company_claim is not None
        company = _first_mapped(claims.get(issuer.company_claim), issuer.company_map)
        if company is None:
            return "no-company"
    shown = claims.get(issuer.name_claim)
    name = shown if isinstance(shown, str) and shown.strip() else subject
    return Mapped(subject, name, company, role)


def logged_subject(secret: bytes, subject: str) -> str:
    """How the log names a provider's subject id: as it is, unless it looks like personal data
    (some brokers use the personnummer or an e-mail address as ``sub``); then a keyed tag."""
    return source_tag(secret, "subject", subject) if looks_personal(subject) else subject


def _identity(secret: bytes, issuer: str, subject: str) -> dict[str, str]:
    return {"issuer": issuer, "subject": logged_subject(secret, subject)}


def refuse(
    conn: Connection,
    issuer: str,
    reason: str,
    now: datetime,
    route: str,
    *,
    actor: Actor = ANONYMOUS,
    subject: str | None = None,
    secret: bytes = b"",
) -> Refused:
    """A refused sign-in at a provider, logged (``access.denied``) with its reason."""
    found = {"route": route, "issuer": issuer}
    if subject is not None:
        found["subject"] = logged_subject(secret, subject)
    record_denied(conn, actor, reason, now, found)
    return Refused(403, reason, "Sign-in refused", reason)


def sign_in(
    conn: Connection,
    issuer: OpenIdIssuer,
    claims: Mapping[str, Any],
    now: datetime,
    route: str,
    *,
    secret: bytes,
) -> Principal | Refused:
    """The person the claims name, made or updated here; or a logged refusal. ``secret`` keys
    the tag that stands for a subject id looking like personal data."""
    mapped = map_claims(issuer, claims)
    if isinstance(mapped, str):
        subject = claims.get("sub")
        return refuse(
            conn,
            issuer.name,
            mapped,
            now,
            route,
            subject=subject if isinstance(subject, str) else None,
            secret=secret,
        )
    user = users.user_for_identity(conn, issuer.name, mapped.subject)
    if user is not None and not user.active:
        return refuse(
            conn,
            issuer.name,
            "user-revoked",
            now,
            route,
            actor=user.actor,
            subject=mapped.subject,
            secret=secret,
        )
    system = audit.system_actor(f"openid:{issuer.name}")
    if user is None:
        user = users.add_identity_user(
            conn, mapped.name, mapped.role, mapped.company_id, issuer.name, mapped.subject, now
        )
        record(
            conn,
            system,
            AuditAction.USER_CREATE,
            now,
            {**audit_object(user), "issuer": issuer.name},
            reason=f"role {user.role}",
        )
    elif (user.role, user.company_id) != (mapped.role, mapped.company_id):
        users.set_role(conn, user.id, mapped.role, mapped.company_id)
        record(
            conn,
            system,
            AuditAction.USER_UPDATE,
            now,
            {**audit_object(user), "issuer": issuer.name},
            reason=f"role {user.role} -> {mapped.role}",
        )
    principal = Principal(user.id, user.name, mapped.role, mapped.company_id)
    started(conn, principal, now, _identity(secret, issuer.name, mapped.subject), "openid")
    return principal


def started(
    conn: Connection, who: Principal, now: datetime, object_ids: Mapping[str, str], how: str
) -> None:
    """The ``session.start`` entry of a sign-in (``how``: ``openid`` or ``token``)."""
    record(conn, who, AuditAction.SESSION_START, now, object_ids, reason=how)


def seal_refresh(secret: bytes, refresh_token: str | None) -> str | None:
    return None if refresh_token is None else seal_secret(secret, REFRESH_PURPOSE, refresh_token)


def recheck(
    engine: Engine,
    providers: Providers,
    secret: bytes,
    row: StoredSession,
    user: User,
    now: datetime,
) -> bool:
    """Whether the session may go on: asks the provider when the last check is older than
    the issuer's ``recheck_seconds`` (no database transaction is open meanwhile)."""
    if row.refresh_token is None or user.issuer is None:
        return True
    provider = providers.get(user.issuer)
    if provider is None:  # the issuer was removed from the settings: its people are out
        reason = "issuer-removed"
    else:
        every = provider.issuer.recheck_seconds
        checked = row.checked_at or row.created_at
        if every == 0 or now - checked < timedelta(seconds=every):
            return True
        token = open_secret(secret, REFRESH_PURPOSE, row.refresh_token)
        try:
            if token is None:
                raise OpenIdRefused("provider-ended", "the stored refresh token does not open")
            fresh, claims = provider.recheck(token, "")
        except OpenIdRefused as refused:
            if refused.reason == "provider-unreachable":
                return True  # the provider is down, not saying no: try again at the next page
            reason = refused.reason
        else:
            mapped = None if claims is None else map_claims(provider.issuer, claims)
            changed = mapped is not None and (
                not isinstance(mapped, Mapped)
                or mapped.subject != user.subject
                or (mapped.role, mapped.company_id) != (user.role, user.company_id)
            )
            if not changed:
                with engine.begin() as conn:
                    sealed = seal_secret(secret, REFRESH_PURPOSE, fresh)
                    sessions.set_checked(conn, row.id, sealed, now)
                return True
            # A role taken away (or changed) at the provider ends the session at once; the
            # next sign-in gives the person what the provider says now.
            reason = ENDED_ROLE_CHANGED
    with engine.begin() as conn:
        ended = ENDED_ROLE_CHANGED if reason == ENDED_ROLE_CHANGED else sessions.ENDED_PROVIDER
        sessions.end_session(conn, row.id, now, ended)
        record(
            conn,
            user.actor,
            AuditAction.SESSION_END,
            now,
            _identity(secret, user.issuer, user.subject or ""),
            reason=reason,
        )
    return False
