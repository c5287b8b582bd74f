"""Checkpoints: C2SP ``tlog-checkpoint`` bodies signed as C2SP signed notes (Ed25519).

A checkpoint says that log ``origin`` had ``size`` entries with this root hash. The log signs
one with its audit key (:func:`sign_checkpoint`); an auditor or a company pins the public key
and the key name and checks a note with :func:`parse_and_verify_checkpoint`, which ignores the
signature lines of other keys (e.g. witnesses) as the note spec asks.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from matcher.core.audit.errors import CheckpointError
from matcher.core.audit.hashing import HASH_SIZE
from matcher.crypto import NOTE_SIGNATURE_PREFIX, sign_note, verify_note_signature
from matcher.errors import MatcherError

__all__ = ["Checkpoint", "checkpoint_body", "parse_and_verify_checkpoint", "sign_checkpoint"]


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
