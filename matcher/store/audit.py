"""The audit log in the database: appending entries, reading them back, proofs and checkpoints.

:func:`append` writes one :class:`~matcher.core.audit.AuditEntry` *inside the caller's
transaction*, so a change and its entry commit together or not at all. Appends are serialised:
on PostgreSQL by a transaction-scoped advisory lock, on SQLite by making the first statement a
write (SQLite then holds the database's only write lock until commit). Under that lock the next
seq is the previous maximum + 1, and the Merkle nodes the new leaf completes are stored as
``(level, idx, hash)`` rows like :class:`~matcher.core.audit.MemoryTree` reports them, so every
proof is O(log n) row look-ups (:func:`node_source`).

Checkpoints are signed with the log key (a file next to the reveal key, never in the database)
and cached by tree size. Entries hold ids and reason codes only; the core refuses strings that
look like personal identity numbers or e-mail addresses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from matcher.core.audit import (
    Actor,
    AuditEntry,
    Outcome,
    PolicyRef,
    ProofRangeError,
    format_time,
    leaf_hash,
    node_hash,
    sign_checkpoint,
    tree_root,
)
from matcher.core.vocabulary import AuditAction
from matcher.store.cursors import decode_cursor, encode_cursor
from matcher.store.database import utc, utcnow
from matcher.store.tables import audit_checkpoints, audit_entries, audit_nodes


class LogKey(Protocol):
    """The log's name and its signing key: the caller passes them in (the settings do), so the
    store reads no configuration and opens no key file of its own."""

    @property
    def log_origin(self) -> str: ...

    def log_private_key(self) -> bytes: ...


__all__ = [
    "ADVISORY_LOCK_KEY",
    "EntryFilter",
    "EntryPage",
    "LogKey",
    "StoredNodes",
    "answering",
    "append",
    "entries",
    "entry_bytes",
    "latest_checkpoint",
    "log_size",
    "newest_signed_checkpoint",
    "node_source",
    "one_entry_bytes",
    "system_actor",
]

# pg_advisory_xact_lock key of the audit log: any constant no other code uses. "CCAUDIT1".
ADVISORY_LOCK_KEY = 0x4343_4155_4449_5431


# The HTTP request being answered, set by the API's request log (matcher.api.requestlog) for the
# whole of one request. Every entry appended while answering it names it, whichever action or
# transaction writes the entry (the request's own, a refusal's, the throttle's); console and
# timer work runs outside any request and names none. A context variable, not an argument of
# every action: it is correlation, like the log line's request id, and decides nothing.
_HTTP_REQUEST_ID: ContextVar[str | None] = ContextVar("crosscheck_http_request_id", default=None)


@contextmanager
def answering(http_request_id: str) -> Iterator[None]:
    """Within this block, appended entries carry ``http_request_id``."""
    token = _HTTP_REQUEST_ID.set(http_request_id)
    try:
        yield
    finally:
        _HTTP_REQUEST_ID.reset(token)


def system_actor(name: str = "system") -> Actor:
    """The actor of actions the matcher takes by itself or that the console runs (no token)."""
    return Actor(id=name, role="system", company=None)


def _serialise(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    else:
        # A write as the first statement: pysqlite opens the transaction before it and SQLite
        # takes the write lock for it (waiting up to busy_timeout), even though no row matches.
        # Reading max(seq) first could see a snapshot another writer is about to extend.
        conn.execute(update(audit_nodes).where(text("0 = 1")).values(level=audit_nodes.c.level))


def append(
    conn: Connection,
    *,
    actor: Actor,
    action: AuditAction,
    outcome: Outcome,
    now: datetime,
    object_ids: Mapping[str, str] | None = None,
    policy: PolicyRef | None = None,
    purpose: str | None = None,
    case_reference: str | None = None,
    fields: Sequence[str] = (),
    request_id: str | None = None,
) -> int:
    """Append one entry in the caller's transaction and return its seq (0-based).

    Raises :class:`~matcher.core.audit.InvalidAuditEntry` (a bug in the caller) when the entry
    is malformed or looks like it holds personal data; the caller's transaction then rolls back.
    """
    objects = dict(object_ids or {})
    # Build (and validate) before taking the lock: a refused entry costs the others nothing.
    probe = AuditEntry(
        seq=0,
        time=format_time(now),
        actor=actor,
        action=action,
        outcome=outcome,
        object_ids=objects,
        policy=policy,
        purpose=purpose,
        case_reference=case_reference,
        fields=tuple(fields),
        request_id=request_id,
        http_request_id=_HTTP_REQUEST_ID.get(),
    )
    _serialise(conn)
    last = conn.execute(select(func.max(audit_entries.c.seq))).scalar_one()
    seq = 0 if last is None else int(last) + 1
    entry = AuditEntry(**{**probe.__dict__, "seq": seq})
    data = entry.to_json()
    leaf = leaf_hash(data)
    conn.execute(
        insert(audit_entries).values(
            seq=seq,
            time=now,
            actor_id=actor.id,
            actor_role=actor.role,
            actor_company=actor.company,
            action=action,
            object_company=objects.get("company"),
            case_reference=case_reference,
            policy_id=None if policy is None else policy.id,
            result=outcome.result,
            entry=data,
            leaf_hash=leaf,
        )
    )
    conn.execute(insert(audit_nodes), _completed_nodes(conn, seq, leaf))
    return seq


def _completed_nodes(conn: Connection, seq: int, leaf: bytes) -> list[dict[str, Any]]:
    """The rows MemoryTree.append would report for leaf ``seq``: the leaf, and one parent per
    trailing 1 bit of ``seq`` (each completes a subtree with its left sibling)."""
    rows = [{"level": 0, "idx": seq, "hash": leaf}]
    node, level, index = leaf, 0, seq
    while index & 1:
        left = _node(conn, level, index - 1)
        node = node_hash(left, node)
        level, index = level + 1, index >> 1
        rows.append({"level": level, "idx": index, "hash": node})
    return rows


def _node(conn: Connection, level: int, index: int) -> bytes:
    value = conn.execute(
        select(audit_nodes.c.hash).where(audit_nodes.c.level == level, audit_nodes.c.idx == index)
    ).scalar_one_or_none()
    if value is None:
        raise ProofRangeError(f"the log has no complete subtree at level {level}, {index}")
    return bytes(value)


class StoredNodes:
    """A :class:`~matcher.core.audit.NodeSource` over the ``audit_nodes`` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def node(self, level: int, index: int) -> bytes:
        return _node(self._conn, level, index)


def node_source(conn: Connection) -> StoredNodes:
    """Subtree hashes for :func:`~matcher.core.audit.inclusion_proof` and friends."""
    return StoredNodes(conn)


def log_size(conn: Connection) -> int:
    """The number of entries (seq runs 0..size-1 without gaps)."""
    last = conn.execute(select(func.max(audit_entries.c.seq))).scalar_one()
    return 0 if last is None else int(last) + 1


# --- Reading entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFilter:
    """Filters of ``GET /v1/audit/entries``; None means "any". ``company`` matches the actor's
    company or the company the entry is about."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    actor: str | None = None
    action: str | None = None
    company: str | None = None
    case_reference: str | None = None


@dataclass(frozen=True)
class EntryPage:
    items: list[AuditEntry]
    next_cursor: str | None


def entries(
    conn: Connection,
    filters: EntryFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> EntryPage:
    """One page of entries in seq order, matching ``filters``."""
    f = filters or EntryFilter()
    query = select(audit_entries.c.seq, audit_entries.c.entry).where(
        audit_entries.c.seq > decode_cursor(cursor, start=-1)
    )
    if f.time_from is not None:
        query = query.where(audit_entries.c.time >= f.time_from)
    if f.time_to is not None:
        query = query.where(audit_entries.c.time <= f.time_to)
    if f.actor is not None:
        query = query.where(audit_entries.c.actor_id == f.actor)
    if f.action is not None:
        query = query.where(audit_entries.c.action == f.action)
    if f.company is not None:
        query = query.where(
            (audit_entries.c.actor_company == f.company)
            | (audit_entries.c.object_company == f.company)
        )
    if f.case_reference is not None:
        query = query.where(audit_entries.c.case_reference == f.case_reference)
    rows = conn.execute(query.order_by(audit_entries.c.seq).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [AuditEntry.from_json(bytes(r.entry)) for r in rows]
    return EntryPage(items, encode_cursor(int(rows[-1].seq)) if more else None)


def one_entry_bytes(conn: Connection, seq: int) -> bytes | None:
    """The stored canonical bytes of entry ``seq``, or None when the log has no such entry."""
    found = conn.execute(
        select(audit_entries.c.entry).where(audit_entries.c.seq == seq)
    ).scalar_one_or_none()
    return None if found is None else bytes(found)


def entry_bytes(conn: Connection, size: int, *, batch: int = 1000) -> Iterator[bytes]:
    """The stored canonical bytes of entries 0..size-1, in order, read in batches (exports)."""
    start = 0
    while start < size:
        end = min(start + batch, size)
        rows = conn.execute(
            select(audit_entries.c.entry)
            .where(audit_entries.c.seq >= start, audit_entries.c.seq < end)
            .order_by(audit_entries.c.seq)
        ).all()
        if len(rows) != end - start:
            raise ProofRangeError(f"entries {start}-{end - 1} are not all in the log")
        for row in rows:
            yield bytes(row.entry)
        start = end


# --- Checkpoints -------------------------------------------------------------------------------


def newest_signed_checkpoint(conn: Connection) -> tuple[int, str, datetime] | None:
    """The largest checkpoint signed so far: its size, note and when it was signed."""
    row = conn.execute(
        select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else (int(row.size), str(row.note), utc(row.signed_at))


def latest_checkpoint(conn: Connection, settings: LogKey, size: int | None = None) -> str:
    """The signed note (C2SP tlog-checkpoint) for the log's current size, or for ``size``.

    Signed with the log key under the key name ``settings.log_origin`` and cached by size.
    """
    current = log_size(conn)
    size = current if size is None else size
    if not 0 <= size <= current:
        raise ProofRangeError(f"the log has {current} entries; no checkpoint for size {size}")
    cached = conn.execute(
        select(audit_checkpoints.c.note).where(audit_checkpoints.c.size == size)
    ).scalar_one_or_none()
    if cached is not None:
        return str(cached)
    root_hash = tree_root(node_source(conn), size)
    origin = settings.log_origin
    note = sign_checkpoint(origin, size, root_hash, origin, settings.log_private_key())
    try:
        with conn.begin_nested():
            conn.execute(insert(audit_checkpoints).values(size=size, note=note, signed_at=utcnow()))
    except IntegrityError:
        # Another request signed the same size first; Ed25519 is deterministic, same note.
        pass
    return note
