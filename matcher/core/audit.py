"""The audit log's pure core: entries, the RFC 9162 Merkle tree, proofs and signed checkpoints.

Every access to a hit, request or disclosure is an :class:`AuditEntry`. Entries are leaves of an
append-only Merkle tree hashed as RFC 9162 section 2.1 defines (leaf = SHA-256(0x00 || entry
bytes), node = SHA-256(0x01 || left || right), any tree size), so an auditor holding one signed
checkpoint can check that an entry is in the log (inclusion proof) and that a later log still
contains an earlier one unchanged (consistency proof). Checkpoints are C2SP ``tlog-checkpoint``
bodies signed as C2SP signed notes with the log's Ed25519 key.

Proof generation reads subtree hashes through a :class:`NodeSource`. :class:`LeafRangeSource`
computes them from a function returning leaf hashes for a range: O(size of the subtree) per node,
so O(n) hash computations per proof. :class:`MemoryTree` keeps every complete subtree hash (the
store can persist the nodes :meth:`MemoryTree.append` reports) and answers a proof with O(log n)
node look-ups and no hashing.

No I/O and no clock here: the entry time and the keys come in as arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast

from contract import canonical_json
from matcher.crypto import NOTE_SIGNATURE_PREFIX, sign_note, verify_note_signature
from matcher.errors import MatcherError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Actor",
    "AuditEntry",
    "AuditError",
    "Checkpoint",
    "CheckpointError",
    "InvalidAuditEntry",
    "LeafRangeSource",
    "MemoryTree",
    "NodeSource",
    "Outcome",
    "PersonalDataInEntry",
    "PolicyRef",
    "ProofRangeError",
    "RootBuilder",
    "checkpoint_body",
    "consistency_proof",
    "format_time",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_and_verify_checkpoint",
    "root",
    "sign_checkpoint",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162: MTH({}) = HASH()


# --- Errors ---------------------------------------------------------------------------------


class AuditError(MatcherError):
    """Base of the audit log's errors."""

    slug = "audit"
    title = "Audit log error"


class InvalidAuditEntry(AuditError, ValueError):
    """An entry is malformed. Raised when one is built or parsed; at append time it is a bug."""

    slug = "invalid-audit-entry"
    title = "Audit entry invalid"


class PersonalDataInEntry(InvalidAuditEntry):
    """A string in an entry looks like personal data. The message names the field, never the
    value: entries leave the company (auditors, exports), personal data must not."""

    slug = "personal-data-in-audit-entry"
    title = "Audit entry would contain personal data"


class ProofRangeError(AuditError, ValueError):
    """A proof was asked for an index or size the log does not have."""

    status = 422
    slug = "invalid-proof-range"
    title = "No such proof"


class CheckpointError(AuditError):
    """A checkpoint is malformed, signed by another key, or its signature does not verify."""

    status = 422
    slug = "invalid-checkpoint"
    title = "Checkpoint invalid"


# --- Entries --------------------------------------------------------------------------------

Result = Literal["allowed", "denied"]
_RESULTS: tuple[Result, ...] = ("allowed", "denied")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")

# Defence in depth: callers put ids, codes and reasons in entries, never personal data. These
# catch the likely slips. A Swedish personnummer/samordningsnummer (10 or 12 digits, optional
# - or + before the last four) with a plausible month and day (day + 60 for samordningsnummer);
# the look-arounds keep digit runs inside UUIDs, hex digests and longer ids from matching.
_PERSONNUMMER = re.compile(
    r"(?<![\w-])(?:19|20)?\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"
    r"[-+]?\d{4}(?![\w-])"
)
_EMAIL = re.compile(r"[^\s@\"']+@[^\s@\"']+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Actor:
    """Who acted: a user id (opaque, never a name or e-mail), role, and company (None for the
    matcher's own admins, auditors and the system)."""

    id: str
    role: str
    company: str | None


@dataclass(frozen=True)
class PolicyRef:
    """The legal-basis policy an action was decided under, by id and file digest."""

    id: str
    digest: str


@dataclass(frozen=True)
class Outcome:
    """Whether the action was allowed, and why (a reason code or short text)."""

    result: Result
    reason: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One log entry. ``to_json`` gives the exact bytes that are hashed into the tree.

    ``object_ids`` is serialised as ``"object"`` (ids of the things acted on, e.g. hit, request,
    extract). ``time`` is ISO 8601 UTC with a ``Z`` suffix; :func:`format_time` makes one.
    """

    seq: int
    time: str
    actor: Actor
    action: str
    outcome: Outcome  # no default: an entry must say whether the action was allowed
    object_ids: Mapping[str, str] = field(default_factory=dict)
    policy: PolicyRef | None = None
    purpose: str | None = None
    case_reference: str | None = None
    fields: tuple[str, ...] = ()
    request_id: str | None = None

    def __post_init__(self) -> None:
        # Freeze the mapping: a frozen entry whose object ids can still change is not frozen.
        object.__setattr__(self, "object_ids", MappingProxyType(dict(self.object_ids)))
        object.__setattr__(self, "fields", tuple(self.fields))
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": {"id": self.actor.id, "role": self.actor.role, "company": self.actor.company},
            "action": self.action,
            "object": dict(self.object_ids),
            "policy": (
                None
                if self.policy is None
                else {"id": self.policy.id, "digest": self.policy.digest}
            ),
            "purpose": self.purpose,
            "case_reference": self.case_reference,
            "fields": list(self.fields),
            "outcome": {"result": self.outcome.result, "reason": self.outcome.reason},
            "request_id": self.request_id,
        }

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces, UTF-8): the leaf's input bytes."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> AuditEntry:
        """Parse and validate one entry. Raises :class:`InvalidAuditEntry` for anything that is
        not exactly the shape :meth:`to_json` writes (unknown or missing keys, wrong types)."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidAuditEntry("the entry is not valid JSON") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: object) -> AuditEntry:
        obj = _object(raw, "entry", _ENTRY_KEYS)
        actor = _object(obj["actor"], "actor", {"id", "role", "company"})
        policy_raw = obj["policy"]
        policy = None
        if policy_raw is not None:
            policy_obj = _object(policy_raw, "policy", {"id", "digest"})
            policy = PolicyRef(
                _str(policy_obj, "id", "policy"), _str(policy_obj, "digest", "policy")
            )
        outcome = _object(obj["outcome"], "outcome", {"result", "reason"})
        result = outcome["result"]
        if result not in _RESULTS:
            raise InvalidAuditEntry("outcome.result must be 'allowed' or 'denied'")
        objects = obj["object"]
        if not isinstance(objects, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in objects.items()
        ):
            raise InvalidAuditEntry("'object' must map id names to string ids")
        fields = obj["fields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise InvalidAuditEntry("'fields' must be a list of field names")
        seq = obj["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise InvalidAuditEntry("'seq' must be an integer")
        return cls(
            seq=seq,
            time=_str(obj, "time", "entry"),
            actor=Actor(
                _str(actor, "id", "actor"),
                _str(actor, "role", "actor"),
                _opt_str(actor, "company", "actor"),
            ),
            action=_str(obj, "action", "entry"),
            object_ids=objects,
            policy=policy,
            purpose=_opt_str(obj, "purpose", "entry"),
            case_reference=_opt_str(obj, "case_reference", "entry"),
            fields=tuple(fields),
            outcome=Outcome(cast(Result, result), _opt_str(outcome, "reason", "outcome")),
            request_id=_opt_str(obj, "request_id", "entry"),
        )


_ENTRY_KEYS = {
    "seq",
    "time",
    "actor",
    "action",
    "object",
    "policy",
    "purpose",
    "case_reference",
    "fields",
    "outcome",
    "request_id",
}


def _object(raw: object, name: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidAuditEntry(f"'{name}' must be a JSON object")
    if set(raw) != keys:
        missing, extra = sorted(keys - set(raw)), sorted(set(raw) - keys)
        raise InvalidAuditEntry(
            f"'{name}' must have exactly the keys {sorted(keys)}; missing {missing}, "
            f"unexpected {extra}"
        )
    return raw


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidAuditEntry(f"{where}.{key} must be a string")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj[key]
    if value is not None and not isinstance(value, str):
        raise InvalidAuditEntry(f"{where}.{key} must be a string or null")
    return value


def format_time(moment: datetime) -> str:
    """The entry ``time`` for an aware datetime: UTC, ISO 8601, microseconds, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise InvalidAuditEntry("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _validate(entry: AuditEntry) -> None:
    if not isinstance(entry.seq, int) or isinstance(entry.seq, bool) or entry.seq < 0:
        raise InvalidAuditEntry("seq must be a non-negative integer")
    if not _TIME.fullmatch(entry.time):
        raise InvalidAuditEntry(
            "time must be ISO 8601 UTC like 2025-01-31T12:00:00.000000Z (use format_time)"
        )
    try:
        datetime.fromisoformat(entry.time.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidAuditEntry("time is not a real date and time") from exc
    if not entry.action:
        raise InvalidAuditEntry("action must not be empty")
    if entry.outcome.result not in _RESULTS:
        raise InvalidAuditEntry("outcome.result must be 'allowed' or 'denied'")
    for where, value in _strings(entry):
        if _PERSONNUMMER.search(value):
            raise PersonalDataInEntry(
                f"{where} looks like it holds a personal identity number; audit entries hold "
                "ids and reasons only, never personal data"
            )
        if _EMAIL.search(value):
            raise PersonalDataInEntry(
                f"{where} looks like it holds an e-mail address; audit entries hold ids and "
                "reasons only, never personal data (use the user id)"
            )


def _strings(entry: AuditEntry) -> list[tuple[str, str]]:
    found = [
        ("time", entry.time),
        ("actor.id", entry.actor.id),
        ("actor.role", entry.actor.role),
        ("action", entry.action),
    ]
    optional = [
        ("actor.company", entry.actor.company),
        ("purpose", entry.purpose),
        ("case_reference", entry.case_reference),
        ("outcome.reason", entry.outcome.reason),
        ("request_id", entry.request_id),
    ]
    if entry.policy is not None:
        optional += [("policy.id", entry.policy.id), ("policy.digest", entry.policy.digest)]
    found += [(where, value) for where, value in optional if value is not None]
    for key, value in entry.object_ids.items():
        found += [("object key", key), (f"object.{key}", value)]
    found += [(f"fields[{i}]", name) for i, name in enumerate(entry.fields)]
    return found


# --- Hashing (RFC 9162 section 2.1) ---------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || entry bytes)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class RootBuilder:
    """Root of a growing log with O(log n) memory: the hashes of the complete subtrees that
    make up the leaves so far (a "compact range"). Used to verify an export in one pass."""

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []  # one hash per set bit of size, largest subtree first

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self._size
        # Each trailing 1 bit of the old size is a complete subtree the new leaf completes.
        while size & 1:
            node = node_hash(self._stack.pop(), node)
            size >>= 1
        self._stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        # RFC 9162 MTH of a non-power-of-two size: the smaller subtrees hang off the right.
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (use :func:`leaf_hash` on the entry bytes first)."""
    builder = RootBuilder()
    for leaf in leaves:
        builder.append(leaf)
    return builder.root()


class NodeSource(Protocol):
    """Hashes of complete subtrees: ``node(level, index)`` covers leaves
    ``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hashes."""

    def node(self, level: int, index: int) -> bytes: ...


LeafHashes = Callable[[int, int], Sequence[bytes]]
"""``leaf_hashes(start, end)``: the leaf hashes of seq ``start`` to ``end - 1``."""


class LeafRangeSource:
    """A :class:`NodeSource` over a function that reads leaf hashes (e.g. from the store's
    table). A node of level h reads 2**h leaves and hashes them: a proof costs O(n) hashing.
    Good enough for exports and small logs; :class:`MemoryTree` (or a node table) for O(log n)."""

    def __init__(self, leaf_hashes: LeafHashes) -> None:
        self._leaf_hashes = leaf_hashes

    def node(self, level: int, index: int) -> bytes:
        start = index << level
        leaves = self._leaf_hashes(start, start + (1 << level))
        if len(leaves) != 1 << level:
            raise ProofRangeError(f"the log has no complete subtree at level {level}, {index}")
        return root(leaves)


class _ListSource:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._inner = LeafRangeSource(lambda start, end: leaves[start:end])

    def node(self, level: int, index: int) -> bytes:
        return self._inner.node(level, index)


class MemoryTree:
    """An append-only tree holding every complete subtree hash, level by level.

    ``append`` costs amortised O(1) hashes and returns the nodes it completed as
    ``(level, index, hash)``: a store that saves those rows can serve ``node`` from its table
    and so answer every proof with O(log n) look-ups. 10**6 leaves take about 64 MB here.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE if self._levels else 0

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        completed = []
        node, level = leaf, 0
        while True:
            if level == len(self._levels):
                self._levels.append(bytearray())
            row = self._levels[level]
            row += node
            count = len(row) // HASH_SIZE
            completed.append((level, count - 1, node))
            if count % 2:
                return completed
            node = node_hash(bytes(row[-2 * HASH_SIZE : -HASH_SIZE]), node)
            level += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def node(self, level: int, index: int) -> bytes:
        if level >= len(self._levels):
            raise ProofRangeError(f"the log has no complete subtree at level {level}, {index}")
        row = self._levels[level]
        start = index * HASH_SIZE
        if index < 0 or start + HASH_SIZE > len(row):
            raise ProofRangeError(f"the log has no complete subtree at level {level}, {index}")
        return bytes(row[start : start + HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size > self.size:
            raise ProofRangeError(f"the log has {self.size} entries, not {size}")
        return tree_root(self, size)


def _source(leaves: NodeSource | Sequence[bytes]) -> NodeSource:
    if isinstance(leaves, Sequence):
        return _ListSource(leaves)
    return leaves


def _range_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for the ranges RFC 9162's recursions produce: ``start`` is a multiple
    of the largest power of two below the size, so the range splits into complete subtrees."""
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return source.node(level, start >> level)
    k = _largest_power_of_two_below(size)
    return node_hash(_range_hash(source, start, start + k), _range_hash(source, start + k, end))


def tree_root(leaves: NodeSource | Sequence[bytes], size: int) -> bytes:
    """MTH of the first ``size`` leaves of a log."""
    if size < 0:
        raise ProofRangeError("a tree size is not negative")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(_source(leaves), 0, size)


def inclusion_proof(leaves: NodeSource | Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, leaf side first.

    ``leaves`` is a list of leaf hashes or a :class:`NodeSource` over the log."""
    if not 0 <= index < size:
        raise ProofRangeError(
            f"no inclusion proof for entry {index} in a tree of size {size}; "
            "the entry must be below the size"
        )
    source = _source(leaves)
    path: list[bytes] = []
    start, end = 0, size
    # PATH recurses into the half holding the index and appends the other half's hash after
    # the deeper elements; walking down and prepending builds the same list without recursion.
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            path.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            path.append(_range_hash(source, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(leaves: NodeSource | Sequence[bytes], m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; empty when m is 0 or m == n."""
    if not 0 <= m <= n:
        raise ProofRangeError(
            f"no consistency proof from size {m} to size {n}; need 0 <= from <= to"
        )
    if m in (0, n):
        return []
    source = _source(leaves)
    path: list[bytes] = []
    start, end, complete = 0, n, True  # SUBPROOF(m - start, D[start:end], complete)
    while True:
        size, cut = end - start, m - start
        if cut == size:
            if not complete:
                path.append(_range_hash(source, start, end))
            break
        k = _largest_power_of_two_below(size)
        if cut <= k:
            path.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            path.append(_range_hash(source, start, start + k))
            start, complete = start + k, False
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: is ``leaf`` at ``index`` in the tree of ``size`` with this
    root?"""
    if index < 0 or index >= size or not _all_hashes([leaf, expected_root, *proof]):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of size ``n`` with ``root_n`` an append-only
    extension of the tree of size ``m`` with ``root_m``?

    The RFC covers 0 < m < n; as transparency-dev/merkle does, m == n holds with an empty proof
    and equal roots, and m == 0 holds with an empty proof (every tree extends the empty one)."""
    if m < 0 or m > n or not _all_hashes([root_m, root_n, *proof]):
        return False
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


def _all_hashes(values: Sequence[bytes]) -> bool:
    return all(isinstance(v, bytes) and len(v) == HASH_SIZE for v in values)


# --- Checkpoints (C2SP tlog-checkpoint + signed-note) ---------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the log ``origin`` had ``size`` entries with this ``root``."""

    origin: str
    size: int
    root: bytes

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode("ascii")


_NAME = re.compile(r"[^\s+]+")  # C2SP: a key name has no whitespace and no '+'
_SIZE = re.compile(r"0|[1-9]\d*")
_MAX_NOTE = 1 << 20


def checkpoint_body(origin: str, size: int, root_hash: bytes) -> str:
    """``"<origin>\\n<size>\\n<base64 root>\\n"``: the text a checkpoint signature covers."""
    if not origin or "\n" in origin or origin != origin.strip():
        raise CheckpointError("a log origin is one non-empty line without outer spaces")
    if size < 0 or len(root_hash) != HASH_SIZE:
        raise CheckpointError("a checkpoint needs a size >= 0 and a 32-byte root")
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode('ascii')}\n"


def sign_checkpoint(
    origin: str, size: int, root_hash: bytes, key_name: str, private_pem: bytes
) -> str:
    """The signed note of a checkpoint, ready to publish or put at the end of an export."""
    if not _NAME.fullmatch(key_name):
        raise CheckpointError("a key name is non-empty with no spaces and no '+'")
    return sign_note(checkpoint_body(origin, size, root_hash), key_name, private_pem)


def parse_and_verify_checkpoint(note: str, public_pem: bytes, key_name: str) -> Checkpoint:
    """Check the note's signature by ``key_name`` with ``public_pem``, then parse the body.

    Raises :class:`CheckpointError` saying whether the note is malformed, carries no signature
    by that key name, or is signed by another key or with a signature that does not verify.
    Signature lines of other keys (e.g. witnesses) are ignored, as the note spec asks."""
    if len(note) > _MAX_NOTE or not note.endswith("\n"):
        raise CheckpointError("the checkpoint note is malformed: it must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("the checkpoint note has no signature (no blank line before one)")
    text, signature_lines = note[: split + 1], note[split + 2 :].splitlines()
    ours = []
    for line in signature_lines:
        if not line.startswith(NOTE_SIGNATURE_PREFIX):
            raise CheckpointError("the checkpoint note has a malformed signature line")
        name, _, blob_b64 = line[len(NOTE_SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("a checkpoint signature line is not base64") from exc
        if not _NAME.fullmatch(name) or len(blob) < 5:
            raise CheckpointError("the checkpoint note has a malformed signature line")
        if name == key_name:
            ours.append(blob)
    if not ours:
        raise CheckpointError(
            f"the checkpoint is not signed by key {key_name!r}; check the key name you pinned"
        )
    try:
        # The first line by our key name decides, as golang.org/x/mod/sumdb/note does.
        verify_note_signature(text, key_name, public_pem, ours[0])
    except MatcherError as exc:
        raise CheckpointError(
            f"the checkpoint signature by {key_name!r} does not verify with the given public "
            "key: the checkpoint was altered, or it was signed by another key"
        ) from exc
    return _parse_body(text)


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]  # text ends in "\n": the last split part is empty
    if len(lines) < 3:
        raise CheckpointError("the checkpoint body needs origin, size and root lines")
    origin, size, root_b64 = lines[:3]
    if not origin or not _SIZE.fullmatch(size):
        raise CheckpointError("the checkpoint body's origin or size line is malformed")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError("the checkpoint root is not base64") from exc
    if len(root_hash) != HASH_SIZE:
        raise CheckpointError("the checkpoint root is not a 32-byte hash")
    return Checkpoint(origin, int(size), root_hash)
