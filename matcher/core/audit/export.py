"""The audit log export: its lines, and verifying them offline with only the public key.

The format is JSON Lines:

1. a header ``{"format":"crosscheck-audit-export-v1","key_name":...,"origin":...}``;
2. one line per entry, in seq order: the exact canonical JSON bytes that were hashed;
3. last, ``{"checkpoint":"<signed note>"}``: the C2SP checkpoint for exactly those entries.

Verifying recomputes every leaf hash and the Merkle root, checks that seq runs 0..n-1 without
gaps, that the checkpoint covers exactly these n entries, that its root equals the recomputed
one and that its signature verifies with the auditor's pinned public key under the header's key
name. The first problem found is raised as :class:`VerifyError`, naming the entry (seq and line)
when one entry is at fault. A changed value inside an entry that still parses can only show as a
root mismatch (the checkpoint signs the whole tree, not each entry); pinning an earlier
checkpoint (``pinned_checkpoint``) then tells whether the change is before or after it.

Pure like the rest of the core: lines in, lines out. Reading and writing the export file (atomic
replace, fsync) is the edge in :mod:`matcher.auditlog`, used by ``matcher audit export`` and
``matcher audit verify``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import canonical_json
from contract.tlog import NoteError, parse_note, verify_cosignature
from matcher.core.audit.checkpoint import Checkpoint, parse_and_verify_checkpoint
from matcher.core.audit.entry import AuditEntry
from matcher.core.audit.errors import CheckpointError, InvalidAuditEntry
from matcher.core.audit.hashing import leaf_hash
from matcher.core.audit.tree import RootBuilder
from matcher.crypto import note_key_id
from matcher.errors import MatcherError

__all__ = [
    "EXPORT_FORMAT",
    "Summary",
    "VerifyError",
    "check_cosignatures",
    "export_lines",
    "verify_export_lines",
]

EXPORT_FORMAT = "crosscheck-audit-export-v1"


class VerifyError(MatcherError):
    """An export does not verify. ``seq``/``line`` name the first bad entry when there is one;
    ``reason`` says what is wrong. Messages hold seq numbers and counts, never entry contents."""

    status: ClassVar[int] = 422
    slug: ClassVar[str] = "audit-verify-failed"
    title: ClassVar[str] = "Audit log does not verify"
    exit_code: ClassVar[int] = 1

    def __init__(self, reason: str, *, seq: int | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.seq = seq
        self.line = line
        where = []
        if seq is not None:
            where.append(f"entry seq {seq}")
        if line is not None:
            where.append(f"line {line}")
        prefix = (where[0] + (f" ({where[1]})" if len(where) > 1 else "") + ": ") if where else ""
        super().__init__(prefix + reason)


@dataclass(frozen=True)
class Summary:
    """What a valid export showed: ``size`` entries of log ``origin`` with this signed root."""

    origin: str
    key_name: str
    size: int
    root: bytes
    first_time: str | None
    last_time: str | None
    pinned_size: int | None = None

    def line(self) -> str:
        """The one-line summary ``matcher audit verify`` prints."""
        root_b64 = Checkpoint(self.origin, self.size, self.root).root_b64
        span = (
            f"seq 0-{self.size - 1}, {self.first_time} to {self.last_time}"
            if self.size
            else "empty log"
        )
        pinned = (
            f", consistent with the pinned checkpoint of size {self.pinned_size}"
            if self.pinned_size is not None
            else ""
        )
        return (
            f"OK: {self.size} entries ({span}) of log {self.origin}, root {root_b64}, "
            f"signed by {self.key_name}{pinned}"
        )


def export_lines(
    origin: str, key_name: str, entries: Iterable[bytes | AuditEntry], checkpoint_note: str
) -> Iterator[bytes]:
    """The export's lines (without newlines). ``entries`` are the stored canonical entry bytes
    (or entries), in seq order; ``checkpoint_note`` is the signed checkpoint for exactly them."""
    yield canonical_json({"format": EXPORT_FORMAT, "origin": origin, "key_name": key_name})
    count = 0
    for entry in entries:
        data = entry.to_json() if isinstance(entry, AuditEntry) else entry
        if b"\n" in data:
            raise InvalidAuditEntry("an entry's canonical JSON never contains a newline")
        count += 1
        yield data
    size_line = checkpoint_note.split("\n")[1] if checkpoint_note.count("\n") > 1 else ""
    if size_line != str(count):
        # An export that can never verify is a bug in the caller; refuse to write it.
        raise CheckpointError(
            f"the checkpoint is for size {size_line or '?'} but {count} entries were exported; "
            "sign a checkpoint for exactly the exported entries"
        )
    yield canonical_json({"checkpoint": checkpoint_note})


def verify_export_lines(
    lines: Iterable[bytes],
    public_key_pem: bytes,
    *,
    key_name: str | None = None,
    pinned_checkpoint: str | None = None,
) -> Summary:
    """Verify an export given as lines. Returns a :class:`Summary` or raises
    :class:`VerifyError` for the first problem.

    ``key_name``, when given, must equal the header's (pin it as well as the key).
    ``pinned_checkpoint`` is an earlier checkpoint the auditor kept: it must verify with the same
    key, and the first ``size`` entries of the export must still hash to its root (the log was
    only appended to since).
    """
    numbered = enumerate(lines, start=1)
    header = _read_header(next(numbered, (1, b"")), key_name)
    origin, name = header["origin"], header["key_name"]
    try:
        note_key_id(name, public_key_pem)
    except MatcherError as exc:
        raise VerifyError(f"the public key is unusable: {exc}") from exc
    pinned = None
    if pinned_checkpoint is not None:
        pinned = _verified(pinned_checkpoint, public_key_pem, name, "the pinned checkpoint")
    tree = RootBuilder()
    pinned_root: bytes | None = None
    first_time = last_time = None
    note: str | None = None
    for number, raw in numbered:
        if note is not None:
            raise VerifyError(
                "a line follows the checkpoint; the checkpoint must be the last line", line=number
            )
        seq = tree.size
        parsed = _json(raw, seq, number)
        if isinstance(parsed, dict) and set(parsed) == {"checkpoint"}:
            if not isinstance(parsed["checkpoint"], str):
                raise VerifyError("the checkpoint line must hold the signed note as a string")
            note = parsed["checkpoint"]
            continue
        entry = _entry(parsed, raw, seq, number)
        first_time = first_time or entry.time
        last_time = entry.time
        tree.append(leaf_hash(raw))
        if pinned is not None and tree.size == pinned.size:
            pinned_root = tree.root()
    if note is None:
        raise VerifyError(
            "the export has no checkpoint line; it was cut short or the last line was removed"
        )
    checkpoint = _verified(note, public_key_pem, name, "the checkpoint")
    if checkpoint.origin != origin:
        raise VerifyError(
            f"the checkpoint is for log {checkpoint.origin!r} but the header says {origin!r}"
        )
    _check_size(checkpoint.size, tree.size)
    if pinned is not None:
        _check_pinned(pinned, pinned_root, checkpoint.size)
    if tree.root() != checkpoint.root:
        raise VerifyError(
            f"the {tree.size} entries do not hash to the root the checkpoint signs: an entry "
            "was altered (or entries were inserted, dropped or reordered and renumbered)"
            + (
                f"; entries 0-{pinned.size - 1} match the pinned checkpoint, so the change is "
                f"at seq {pinned.size} or later"
                if pinned is not None
                else "; verify against an earlier pinned checkpoint to narrow it down"
            )
        )
    return Summary(
        origin=origin,
        key_name=name,
        size=tree.size,
        root=checkpoint.root,
        first_time=first_time,
        last_time=last_time,
        pinned_size=None if pinned is None else pinned.size,
    )


def _read_header(first: tuple[int, bytes], key_name: str | None) -> dict[str, str]:
    number, raw = first
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        header = None
    if (
        not isinstance(header, dict)
        or header.get("format") != EXPORT_FORMAT
        or not isinstance(header.get("origin"), str)
        or not isinstance(header.get("key_name"), str)
    ):
        raise VerifyError(
            f"the first line is not a {EXPORT_FORMAT} header with origin and key_name; "
            "is this a crosscheck audit export?",
            line=number,
        )
    if key_name is not None and header["key_name"] != key_name:
        raise VerifyError(
            f"the export is signed under key name {header['key_name']!r}, not {key_name!r}",
            line=number,
        )
    return {"origin": header["origin"], "key_name": header["key_name"]}


def _json(raw: bytes, seq: int, number: int) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        if raw.startswith(b'{"checkpoint"'):
            raise VerifyError("the checkpoint line is not valid JSON", line=number) from exc
        raise VerifyError(
            "the line is not valid JSON (the entry was damaged or edited)", seq=seq, line=number
        ) from exc


def _entry(parsed: Any, raw: bytes, seq: int, number: int) -> AuditEntry:
    try:
        entry = AuditEntry.from_dict(parsed)
    except InvalidAuditEntry as exc:
        raise VerifyError(f"not a valid audit entry: {exc}", seq=seq, line=number) from exc
    if entry.seq != seq:
        if entry.seq > seq:
            reason = (
                f"expected seq {seq} but found {entry.seq}: entry {seq} is missing "
                "(dropped, or moved later)"
            )
        else:
            reason = (
                f"expected seq {seq} but found {entry.seq} again or out of order: an entry "
                "was inserted or entries were reordered"
            )
        raise VerifyError(reason, seq=seq, line=number)
    if entry.to_json() != raw:
        raise VerifyError(
            "the entry is not in canonical JSON form: its bytes were changed after logging",
            seq=seq,
            line=number,
        )
    return entry


def _verified(note: str, public_key_pem: bytes, key_name: str, what: str) -> Checkpoint:
    try:
        return parse_and_verify_checkpoint(note, public_key_pem, key_name)
    except CheckpointError as exc:
        raise VerifyError(f"{what} does not verify: {exc}") from exc


def _check_size(size: int, count: int) -> None:
    if size > count:
        raise VerifyError(
            f"the checkpoint covers {size} entries but the export holds {count}: "
            f"entries {count} to {size - 1} are missing",
            seq=count,
        )
    if size < count:
        raise VerifyError(
            f"the export holds {count} entries but the checkpoint covers only {size}: "
            "the entries from here on are not covered by the signed checkpoint",
            seq=size,
        )


def _check_pinned(pinned: Checkpoint, pinned_root: bytes | None, size: int) -> None:
    if pinned.size > size:
        raise VerifyError(
            f"the pinned checkpoint covers {pinned.size} entries but this export only "
            f"{size}: the log shrank since you pinned it"
        )
    if pinned.size == 0:
        return
    if pinned_root != pinned.root:
        raise VerifyError(
            f"entries 0-{pinned.size - 1} no longer hash to the pinned checkpoint's root: "
            "the log was rewritten since you pinned it, not only appended to"
        )


def check_cosignatures(
    note: str, witnesses: Mapping[str, Ed25519PublicKey], minimum: int
) -> list[str]:
    """The names of ``witnesses`` whose cosignature/v1 on ``note`` verifies; raises
    :class:`VerifyError` when fewer than ``minimum`` do (naming which are missing or bad)."""
    try:
        parsed = parse_note(note)
    except NoteError as exc:
        raise VerifyError(f"the cosigned checkpoint is malformed: {exc}") from exc
    good = []
    for name, key in witnesses.items():
        if any(
            verify_cosignature(parsed.text, sig, name, key) is not None for sig in parsed.by(name)
        ):
            good.append(name)
    if len(good) < minimum:
        missing = sorted(set(witnesses) - set(good))
        raise VerifyError(
            f"only {len(good)} of the required {minimum} witnesses cosigned this checkpoint; "
            f"missing or not verifying: {', '.join(missing)}. A matcher that showed the "
            "witnesses different histories can not collect their cosignatures; ask the "
            "operator and the companies whose witnesses are missing"
        )
    return good
