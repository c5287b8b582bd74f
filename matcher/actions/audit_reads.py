"""Reads of the log itself that every door shares: entries, the checkpoint, proofs, verifying
the whole log, statistics.

Each read is an entry too (``audit.entries``, ``audit.checkpoint``, ``audit.proof``,
``audit.verify``, ``audit.stats``), appended after the answer was computed, so a checkpoint never
covers the entry recording its own fetch. The API (``/v1/audit/*``), the auditor pages and the
CLI call these functions and so leave the same entries.

Checking is done the way an auditor's own machine does it: an entry's inclusion proof is checked
with :func:`~matcher.core.audit.verify_inclusion` against a checkpoint whose signature was
verified with the log's public key, and verifying the whole log runs the offline verifier
(:func:`~matcher.auditlog.verify_export_lines`) over an export made in memory, so the page and
``matcher audit verify`` can not disagree.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.actions.throttle import flush_tallies
from matcher.auditlog import (
    Summary,
    VerifyError,
    export_lines,
    verify_export_lines,
    write_export,
)
from matcher.core.audit import (
    Actor,
    AuditEntry,
    Checkpoint,
    CheckpointError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    parse_and_verify_checkpoint,
    tree_root,
    verify_inclusion,
)
from matcher.core.vocabulary import AuditAction
from matcher.crypto import log_public_key
from matcher.errors import InvalidInput, NotFound
from matcher.store import audit
from matcher.store import statistics as store

__all__ = [
    "Consistency",
    "EntryProof",
    "Inclusion",
    "Verification",
    "checkpoint",
    "consistency",
    "entries",
    "entry_with_proof",
    "export",
    "inclusion",
    "log_public_key_of",
    "statistics",
    "verify_log",
]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def log_public_key_of(key: audit.LogKey) -> bytes:
    """The log's Ed25519 public key (PEM), as auditors pin it."""
    return log_public_key(key.log_private_key())


def _note_size(note: str) -> str:
    return note.split("\n")[1]


def statistics(conn: Connection, who: Principal, now: datetime) -> dict[str, Any]:
    """The auditor's counts as of ``now`` (``GET /v1/audit/stats``, the statistics page)."""
    flush_tallies(conn, now, complete_only=False)
    stats = store.statistics(conn, now)
    record(conn, who, AuditAction.AUDIT_STATS, now)
    return stats


def checkpoint(conn: Connection, who: Principal, key: audit.LogKey, now: datetime) -> str:
    """The signed checkpoint (C2SP tlog-checkpoint note) for the log as it is now."""
    note = audit.latest_checkpoint(conn, key)
    record(conn, who, AuditAction.AUDIT_CHECKPOINT, now, {"size": _note_size(note)})
    return note


def entries(
    conn: Connection,
    who: Principal,
    filters: audit.EntryFilter,
    now: datetime,
    *,
    cursor: str | None = None,
    limit: int = 100,
    restart_stale_cursor: bool = False,
) -> audit.EntryPage:
    """One page of entries in seq order, each exactly as hashed into the log.

    A cursor that no longer fits the filters is an :class:`InvalidInput`; a page (which can not
    show that error next to a link) asks with ``restart_stale_cursor`` to start over instead.
    """
    for moment in (filters.time_from, filters.time_to):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("give from/to with a time zone, e.g. 2026-11-01T00:00:00Z")
    flush_tallies(conn, now, complete_only=False)
    try:
        page = audit.entries(conn, filters, cursor=cursor, limit=limit)
    except InvalidInput:
        if not restart_stale_cursor:
            raise
        page = audit.entries(conn, filters, limit=limit)
    record(conn, who, AuditAction.AUDIT_ENTRIES, now)
    return page


def _check_size(conn: Connection, size: int) -> None:
    current = audit.log_size(conn)
    if size > current:
        raise InvalidInput(f"the log has {current} entries; ask for a size of at most {current}")


@dataclass(frozen=True)
class Inclusion:
    """An RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` entries (base64)."""

    seq: int
    size: int
    leaf_hash: str
    root: str
    proof: tuple[str, ...]


def inclusion(conn: Connection, who: Principal, seq: int, size: int, now: datetime) -> Inclusion:
    _check_size(conn, size)
    nodes = audit.node_source(conn)
    proof = inclusion_proof(nodes, seq, size)
    out = Inclusion(
        seq=seq,
        size=size,
        leaf_hash=_b64(nodes.node(0, seq)),
        root=_b64(tree_root(nodes, size)),
        proof=tuple(_b64(p) for p in proof),
    )
    record(conn, who, AuditAction.AUDIT_PROOF, now, {"seq": str(seq), "size": str(size)})
    return out


@dataclass(frozen=True)
class Consistency:
    """An RFC 9162 consistency proof that the tree of ``to_size`` extends ``from_size``."""

    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: tuple[str, ...]


def consistency(
    conn: Connection, who: Principal, from_size: int, to_size: int, now: datetime
) -> Consistency:
    _check_size(conn, to_size)
    nodes = audit.node_source(conn)
    proof = consistency_proof(nodes, from_size, to_size)
    out = Consistency(
        from_size=from_size,
        to_size=to_size,
        from_root=_b64(tree_root(nodes, from_size)),
        to_root=_b64(tree_root(nodes, to_size)),
        proof=tuple(_b64(p) for p in proof),
    )
    record(conn, who, AuditAction.AUDIT_PROOF, now, {"from": str(from_size), "to": str(to_size)})
    return out


@dataclass(frozen=True)
class EntryProof:
    """An entry's inclusion proof and what checking it against the checkpoint gave."""

    seq: int
    size: int
    leaf: str
    proof: tuple[str, ...]
    root: str
    checkpoint_ok: bool
    included: bool
    problem: str | None


def _entry_proof(conn: Connection, key: audit.LogKey, seq: int, raw: bytes) -> EntryProof:
    """Prove ``raw`` (entry ``seq``) is in the tree the latest signed checkpoint covers."""
    note = audit.latest_checkpoint(conn, key)
    signed: Checkpoint | None
    try:
        signed = parse_and_verify_checkpoint(note, log_public_key_of(key), key.log_origin)
        problem = None
    except CheckpointError as exc:
        signed, problem = None, str(exc)
    size = signed.size if signed else audit.log_size(conn)
    proof = inclusion_proof(audit.node_source(conn), seq, size)
    # The leaf is hashed from the entry's bytes here, not read from the stored tree: a changed
    # entry then fails the proof, as it would on the auditor's machine.
    leaf = leaf_hash(raw)
    included = signed is not None and verify_inclusion(leaf, seq, size, proof, signed.root)
    return EntryProof(
        seq=seq,
        size=size,
        leaf=_b64(leaf),
        proof=tuple(_b64(p) for p in proof),
        root=signed.root_b64 if signed else "",
        checkpoint_ok=signed is not None,
        included=included,
        problem=problem,
    )


def entry_with_proof(
    conn: Connection, who: Principal, key: audit.LogKey, seq: int, now: datetime
) -> tuple[AuditEntry, bytes, EntryProof]:
    """Entry ``seq`` as stored (parsed and raw) with its checked inclusion proof."""
    raw = audit.one_entry_bytes(conn, seq) if seq >= 0 else None
    if raw is None:
        raise NotFound(f"no audit entry {seq}")
    checked = _entry_proof(conn, key, seq, raw)
    record(conn, who, AuditAction.AUDIT_PROOF, now, {"seq": str(seq), "size": str(checked.size)})
    return AuditEntry.from_json(raw), raw, checked


@dataclass(frozen=True)
class Verification:
    """Verifying the whole log: the summary when intact, else the first problem; and the
    signed checkpoint of the size that was checked."""

    summary: Summary | None
    problem: str | None
    size: int
    note: str


def export(
    conn: Connection, who: Principal | Actor, key: audit.LogKey, out: Path, now: datetime
) -> int:
    """Write the whole log with its signed checkpoint to ``out`` (``matcher audit export``);
    returns the number of entries. Size, checkpoint and entries are one view (one
    transaction); the export's own entry comes after them. Tallied anonymous refusals are
    written first, so the export holds every refusal until now."""
    flush_tallies(conn, now, complete_only=False)
    size = audit.log_size(conn)
    note = audit.latest_checkpoint(conn, key, size)
    count = write_export(out, key.log_origin, key.log_origin, audit.entry_bytes(conn, size), note)
    record(conn, who, AuditAction.AUDIT_EXPORT, now, {"size": str(count)})
    return count


def verify_log(conn: Connection, who: Principal, key: audit.LogKey, now: datetime) -> Verification:
    """Recompute every leaf and the root over all entries and check the signed checkpoint,
    with the offline verifier."""
    flush_tallies(conn, now, complete_only=False)
    size = audit.log_size(conn)
    note = audit.latest_checkpoint(conn, key, size)
    lines = export_lines(key.log_origin, key.log_origin, audit.entry_bytes(conn, size), note)
    summary: Summary | None
    try:
        summary = verify_export_lines(lines, log_public_key_of(key), key_name=key.log_origin)
        problem = None
    except VerifyError as exc:
        summary, problem = None, str(exc)
    reason = None if summary else "verification_failed"
    record(conn, who, AuditAction.AUDIT_VERIFY, now, {"size": str(size)}, reason=reason)
    return Verification(summary, problem, size, note)
