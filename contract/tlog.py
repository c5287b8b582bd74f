"""The access log as a company's witness sees it: checkpoints, consistency proofs, cosignatures.

Both sides import this module: the matcher signs checkpoints and checks cosignatures, a
company's witness (``connector witness``) checks checkpoints and consistency proofs and
cosigns. Everything here follows public specifications, implemented from their text:

- RFC 9162 section 2.1: the Merkle tree hashing (``leaf = SHA-256(0x00 || entry)``,
  ``node = SHA-256(0x01 || left || right)``) and the consistency proof check (2.1.4.2).
- C2SP signed-note: a note is a text ending in a newline, a blank line, and signature lines
  ``"— <key name> base64(key id || signature)"``; verifiers ignore lines of unknown keys.
- C2SP tlog-checkpoint: the body is ``origin``, ``size`` and the base64 root, one per line.
- C2SP tlog-cosignature (cosignature/v1, Ed25519): the key id is
  ``SHA-256(name || "\\n" || 0x04 || public key)[:4]``, the signature a big-endian u64
  timestamp followed by the Ed25519 signature over ``"cosignature/v1\\ntime <t>\\n" || body``.

Nothing here raises on a bad proof: checks return False; parsing raises :class:`NoteError`
with a message that says what is wrong (no secret is ever part of it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "COSIGNATURE_V1",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "SIGNATURE_PREFIX",
    "CheckpointBody",
    "Note",
    "NoteError",
    "Signature",
    "cosign",
    "cosignature_key_id",
    "leaf_hash",
    "node_hash",
    "note_key_id",
    "parse_checkpoint_body",
    "parse_note",
    "raw_public_key",
    "verify_consistency",
    "verify_cosignature",
    "verify_note",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162: MTH({}) = HASH()
SIGNATURE_PREFIX = "\u2014 "  # em dash + space, exactly as signed-note writes it
_NOTE_ED25519 = b"\x01"  # signed-note's signature type byte for plain Ed25519 note keys
COSIGNATURE_V1 = b"\x04"  # tlog-cosignature's key id algorithm byte for Ed25519 cosignature/v1
_NAME = re.compile(r"[^\s+]+")  # signed-note: a key name has no whitespace and no '+'
_SIZE = re.compile(r"0|[1-9]\d*")
_MAX_NOTE = 1 << 20


class NoteError(ValueError):
    """A note, a checkpoint body or a signature line is malformed."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || entry bytes)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of size ``n`` with ``root_n`` an append-only
    extension of the tree of size ``m`` with ``root_m``?

    The RFC covers 0 < m < n; as transparency-dev/merkle does, m == n holds with an empty proof
    and equal roots, and m == 0 holds with an empty proof (every tree extends the empty one)."""
    if m < 0 or m > n or not all_hashes([root_m, root_n, *proof]):
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


def all_hashes(values: Sequence[bytes]) -> bool:
    return all(isinstance(v, bytes) and len(v) == HASH_SIZE for v in values)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key name and the decoded key id || signature."""

    name: str
    blob: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.blob).decode('ascii')}"


@dataclass(frozen=True)
class Note:
    """A signed note: the signed ``text`` (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def by(self, name: str) -> list[Signature]:
        return [s for s in self.signatures if s.name == name]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() + "\n" for s in self.signatures)


def parse_note(note: str) -> Note:
    """Split a signed note into its text and its signature lines (checks the form only)."""
    if len(note) > _MAX_NOTE or not note.endswith("\n"):
        raise NoteError("the note is malformed: it must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no signature (no blank line before one)")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("the note has a malformed signature line")
        name, _, blob_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("a signature line of the note is not base64") from exc
        if not _NAME.fullmatch(name) or len(blob) < 5:
            raise NoteError("the note has a malformed signature line")
        signatures.append(Signature(name, blob))
    if not signatures:
        raise NoteError("the note has no signature line")
    return Note(text, tuple(signatures))


@dataclass(frozen=True)
class CheckpointBody:
    """What a checkpoint states: log ``origin`` had ``size`` entries with this ``root``."""

    origin: str
    size: int
    root: bytes


def parse_checkpoint_body(text: str) -> CheckpointBody:
    """The origin, size and root lines of a checkpoint's text (extension lines may follow)."""
    lines = text.split("\n")[:-1]  # text ends in "\n": the last split part is empty
    if len(lines) < 3:
        raise NoteError("the checkpoint body needs origin, size and root lines")
    origin, size, root_b64 = lines[:3]
    if not origin or not _SIZE.fullmatch(size):
        raise NoteError("the checkpoint body's origin or size line is malformed")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the checkpoint root is not base64") from exc
    if len(root_hash) != HASH_SIZE:
        raise NoteError("the checkpoint root is not a 32-byte hash")
    return CheckpointBody(origin, int(size), root_hash)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosignature_key_id(name: str, key: Ed25519PublicKey) -> bytes:
    """tlog-cosignature: SHA-256(name || "\\n" || 0x04 || 32-byte public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + COSIGNATURE_V1 + raw_public_key(key)
    return hashlib.sha256(material).digest()[:4]


def note_key_id(name: str, key: Ed25519PublicKey) -> bytes:
    """signed-note: an Ed25519 verifier's key id, SHA-256(name || "\\n" || 0x01 || key)[:4]."""
    material = name.encode("utf-8") + b"\n" + _NOTE_ED25519 + raw_public_key(key)
    return hashlib.sha256(material).digest()[:4]


def verify_note(note: Note, name: str, key: Ed25519PublicKey) -> bool:
    """Does the first signature line by ``name`` verify as ``key``'s Ed25519 signature over the
    note's text (as golang.org/x/mod/sumdb/note decides)?"""
    ours = note.by(name)
    if not ours:
        return False
    blob = ours[0].blob
    if len(blob) != 4 + 64 or not hmac.compare_digest(blob[:4], note_key_id(name, key)):
        return False
    try:
        key.verify(blob[4:], note.text.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode("ascii") + text.encode("utf-8")


def cosign(text: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> Signature:
    """A cosignature/v1 line by witness ``name`` over a checkpoint's ``text`` at ``timestamp``
    (POSIX seconds)."""
    if not _NAME.fullmatch(name):
        raise NoteError("a witness name is non-empty with no spaces and no '+'")
    if not 0 <= timestamp < 2**63:
        raise NoteError("a cosignature timestamp is between 0 and 2^63 - 1")
    signature = key.sign(_cosigned_message(text, timestamp))
    key_id = cosignature_key_id(name, key.public_key())
    return Signature(name, key_id + struct.pack(">Q", timestamp) + signature)


def verify_cosignature(
    text: str, signature: Signature, name: str, key: Ed25519PublicKey
) -> int | None:
    """The timestamp of ``signature`` when it is a valid cosignature/v1 by (``name``, ``key``)
    over ``text``; None otherwise (another key, another text, or altered)."""
    blob = signature.blob
    if signature.name != name or len(blob) != 4 + 8 + 64:
        return None
    if not hmac.compare_digest(blob[:4], cosignature_key_id(name, key)):
        return None
    (timestamp,) = struct.unpack(">Q", blob[4:12])
    if timestamp >= 2**63:
        return None
    try:
        key.verify(blob[12:], _cosigned_message(text, timestamp))
    except InvalidSignature:
        return None
    return int(timestamp)
