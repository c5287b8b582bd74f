"""Users and their bearer tokens. Only the SHA-256 of a token is stored; the token itself is
returned once, when the user is added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from matcher.core.audit import Actor
from matcher.crypto import api_token_hash, api_token_hashes_equal, new_api_token
from matcher.errors import ConflictError, InvalidInput, NotFound
from matcher.store import tokens
from matcher.store.database import utc, utcnow
from matcher.store.tables import COMPANY_ROLES, ROLES, companies, users

__all__ = [
    "User",
    "add_identity_user",
    "add_user",
    "audit_object",
    "get_user",
    "list_users",
    "revoke_user",
    "set_role",
    "token_holder",
    "user_for_identity",
    "user_for_token",
    "user_named",
]


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    company_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    # Signed in through an OpenID provider: its name (settings) and the person's subject id.
    issuer: str | None = None
    subject: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this user: the opaque id, never the name."""
        return Actor(str(self.id), self.role, self.company_id)


def _user(row: Any) -> User:
    revoked = None if row.revoked_at is None else utc(row.revoked_at)
    return User(
        row.id,
        row.name,
        row.role,
        row.company_id,
        utc(row.created_at),
        revoked,
        row.issuer,
        row.subject,
    )


def _check_role(conn: Connection, role: str, company_id: str | None) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role in COMPANY_ROLES and company_id is None:
        raise InvalidInput(f"role {role} is bound to a company: give the company id")
    if role not in COMPANY_ROLES and company_id is not None:
        raise InvalidInput(f"role {role} is not bound to a company: give no company id")
    if company_id is not None:
        known = conn.execute(select(companies.c.id).where(companies.c.id == company_id)).first()
        if known is None:
            raise InvalidInput(f"company {company_id} is not registered; add it first")


def add_user(conn: Connection, name: str, role: str, company_id: str | None) -> tuple[User, str]:
    """Add a user; returns the user and the bearer token, which is not stored anywhere."""
    if not (1 <= len(name) <= 100) or not name.strip() or "/" in name:
        raise InvalidInput("a user name is 1-100 characters without '/'")
    _check_role(conn, role, company_id)
    token = new_api_token()
    now = utcnow()
    try:
        with conn.begin_nested():
            user_id = conn.execute(
                users.insert()
                .values(
                    name=name,
                    role=role,
                    company_id=company_id,
                    token_hash=api_token_hash(token),
                    created_at=now,
                )
                .returning(users.c.id)
            ).scalar_one()
    except IntegrityError as exc:
        raise ConflictError(f"a user named {name} exists already") from exc
    return User(user_id, name, role, company_id, now, None), token


def add_identity_user(
    conn: Connection,
    name: str,
    role: str,
    company_id: str | None,
    issuer: str,
    subject: str,
    now: datetime,
) -> User:
    """A person's first sign-in through an OpenID provider. They get no usable token: the
    stored hash is of a random token shown to no one. A name taken by another user gets the
    issuer appended ("anna@bostad-a")."""
    _check_role(conn, role, company_id)
    base = name.strip().replace("/", "-")[:60] or subject[:60]
    for candidate in (base, f"{base}@{issuer}", f"{base}@{issuer}-{subject[-8:]}"):
        try:
            with conn.begin_nested():
                user_id = conn.execute(
                    users.insert()
                    .values(
                        name=candidate[:100],
                        role=role,
                        company_id=company_id,
                        token_hash=api_token_hash(new_api_token()),
                        created_at=now,
                        issuer=issuer,
                        subject=subject,
                    )
                    .returning(users.c.id)
                ).scalar_one()
        except IntegrityError:
            if user_for_identity(conn, issuer, subject) is not None:
                raise ConflictError("this person has a user already") from None
            continue
        return User(user_id, candidate[:100], role, company_id, now, None, issuer, subject)
    raise ConflictError(f"no free user name for {base}")


def user_for_identity(conn: Connection, issuer: str, subject: str) -> User | None:
    """The user (revoked or not) an OpenID provider's person was made into, if any."""
    row = conn.execute(
        select(users).where(users.c.issuer == issuer, users.c.subject == subject)
    ).first()
    return None if row is None else _user(row)


def set_role(conn: Connection, user_id: int, role: str, company_id: str | None) -> None:
    """Give a user another role (and company): the provider's groups changed."""
    _check_role(conn, role, company_id)
    conn.execute(
        users.update().where(users.c.id == user_id).values(role=role, company_id=company_id)
    )


def revoke_user(conn: Connection, name: str) -> User:
    """Revoke the user's token at once. Revoking twice keeps the first time."""
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user named {name}")
    if row.revoked_at is None:
        conn.execute(users.update().where(users.c.id == row.id).values(revoked_at=utcnow()))
        row = conn.execute(select(users).where(users.c.id == row.id)).one()
    return _user(row)


def user_named(conn: Connection, name: str) -> User:
    """The user called ``name``, revoked or not (NotFound when there is none)."""
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user named {name}")
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


def get_user(conn: Connection, user_id: int) -> User | None:
    """The user with this id, revoked or not."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def user_for_token(conn: Connection, token: str) -> User | None:
    """The active user holding ``token`` (their personal token, or a machine token of theirs
    that has not run out or been revoked), or None. A machine token's use is noted."""
    digest = api_token_hash(token)
    row = conn.execute(select(users).where(users.c.token_hash == digest)).first()
    # The index lookup already matched; the constant-time compare keeps the check itself from
    # depending on how many leading characters agree.
    if row is None or not api_token_hashes_equal(row.token_hash, digest):
        machine = tokens.token_by_secret(conn, token)
        now = utcnow()
        if machine is None or not machine.usable(now):
            return None
        user = get_user(conn, machine.user_id)
        if user is None or not user.active:
            return None
        tokens.touch_token(conn, machine, now)
        return user
    if row.revoked_at is not None:
        return None
    return _user(row)


def token_holder(conn: Connection, token: str) -> tuple[int, str, str | None] | None:
    """(id, role, company) of the user a token was issued to, revoked or not; None if unknown.
    The log names who tried with a revoked token, not "anonymous"."""
    row = conn.execute(
        select(users.c.id, users.c.role, users.c.company_id).where(
            users.c.token_hash == api_token_hash(token)
        )
    ).first()
    if row is None:
        machine = tokens.token_by_secret(conn, token)
        user = None if machine is None else get_user(conn, machine.user_id)
        return None if user is None else (user.id, user.role, user.company_id)
    return (int(row.id), str(row.role), row.company_id)


def audit_object(user: User) -> dict[str, str]:
    """How audit entries name a user: the opaque id (never the name) and the company."""
    found = {"user": str(user.id)}
    if user.company_id is not None:
        found["company"] = user.company_id
    return found
