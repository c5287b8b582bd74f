"""Machine tokens: named, expiring bearer tokens of a user (scripts, the connector's upload).

Only the SHA-256 of a token is stored; the token is returned once, when it is made. A token
acts as its user (their role and company). Rotating one makes a successor with the same name
and lets the old one run out after an overlap, so a script can switch without downtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from matcher.crypto import api_token_hash, api_token_hashes_equal, new_api_token
from matcher.errors import InvalidInput, NotFound
from matcher.store.database import utc
from matcher.store.tables import api_tokens

__all__ = [
    "MachineToken",
    "add_token",
    "due_for_expiry_entry",
    "get_token",
    "mark_expiry_logged",
    "revoke_token",
    "rotate_token",
    "token_by_secret",
    "touch_token",
    "user_tokens",
]

# A token's last use is written at most this often (every request would be a write).
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class MachineToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by: int | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def _token(row: Any) -> MachineToken:
    return MachineToken(
        int(row.id),
        int(row.user_id),
        str(row.name),
        utc(row.created_at),
        utc(row.expires_at),
        None if row.last_used_at is None else utc(row.last_used_at),
        None if row.revoked_at is None else utc(row.revoked_at),
        row.replaced_by,
    )


def add_token(
    conn: Connection, user_id: int, name: str, now: datetime, expires_at: datetime
) -> tuple[MachineToken, str]:
    """A new token for ``user_id``; returns it and the secret (stored nowhere)."""
    if not (1 <= len(name) <= 100) or not name.strip():
        raise InvalidInput("a token name is 1-100 characters")
    if expires_at <= now:
        raise InvalidInput("a token must expire in the future")
    secret = new_api_token()
    token_id = conn.execute(
        api_tokens.insert()
        .values(
            user_id=user_id,
            name=name,
            token_hash=api_token_hash(secret),
            created_at=now,
            expires_at=expires_at,
            expiry_logged=False,
        )
        .returning(api_tokens.c.id)
    ).scalar_one()
    return MachineToken(token_id, user_id, name, now, expires_at, None, None, None), secret


def get_token(conn: Connection, token_id: int) -> MachineToken:
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    return _token(row)


def user_tokens(conn: Connection, user_id: int) -> list[MachineToken]:
    rows = conn.execute(
        select(api_tokens)
        .where(api_tokens.c.user_id == user_id)
        .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
    )
    return [_token(r) for r in rows]


def token_by_secret(conn: Connection, secret: str) -> MachineToken | None:
    """The machine token ``secret`` is, usable or not; None when it is none."""
    digest = api_token_hash(secret)
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest)).first()
    if row is None or not api_token_hashes_equal(row.token_hash, digest):
        return None
    return _token(row)


def touch_token(conn: Connection, token: MachineToken, now: datetime) -> None:
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=TOUCH_SECONDS):
        conn.execute(
            api_tokens.update().where(api_tokens.c.id == token.id).values(last_used_at=now)
        )


def rotate_token(
    conn: Connection, token: MachineToken, now: datetime, overlap: timedelta
) -> tuple[MachineToken, str]:
    """A successor valid as long as the old one was meant to be; the old one runs out after
    ``overlap`` (or when it would have anyway)."""
    if not token.usable(now):
        raise InvalidInput("only a token that still works can be rotated; make a new one")
    lifetime = token.expires_at - token.created_at
    fresh, secret = add_token(conn, token.user_id, token.name, now, now + lifetime)
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token.id)
        .values(expires_at=min(token.expires_at, now + overlap), replaced_by=fresh.id)
    )
    return fresh, secret


def revoke_token(conn: Connection, token: MachineToken, now: datetime) -> MachineToken:
    if token.revoked_at is None:
        conn.execute(api_tokens.update().where(api_tokens.c.id == token.id).values(revoked_at=now))
    return get_token(conn, token.id)


def due_for_expiry_entry(conn: Connection, now: datetime) -> list[MachineToken]:
    """Tokens that ran out (not revoked) and have no ``token.expire`` entry yet."""
    rows = conn.execute(
        select(api_tokens).where(
            api_tokens.c.expires_at <= now,
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.expiry_logged.is_(False),
        )
    )
    return [_token(r) for r in rows]


def mark_expiry_logged(conn: Connection, token_id: int) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(expiry_logged=True))
