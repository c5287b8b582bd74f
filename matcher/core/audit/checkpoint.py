"""Checkpoints: C2SP ``tlog-checkpoint`` bodies signed as C2SP signed notes (Ed25519).

A checkpoint says that log ``origin`` had ``size`` entries with this root hash. The log signs
one with its audit key (:func:`sign_checkpoint`); an auditor or a company pins the public key
and the key name and checks a note with :func:`parse_and_verify_checkpoint`, which ignores the
signature lines of other keys (e.g. witnesses) as the note spec asks.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from contract.tlog import NoteError, parse_checkpoint_body, parse_note
from matcher.core.audit.errors import CheckpointError
from matcher.core.audit.hashing import HASH_SIZE
from matcher.crypto import sign_note, verify_note_signature
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
    try:
        parsed = parse_note(note)
    except NoteError as exc:
        raise CheckpointError(f"checkpoint: {exc}") from exc
    text = parsed.text
    ours = [signature.blob for signature in parsed.by(key_name)]
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
    try:
        body = parse_checkpoint_body(text)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
    return Checkpoint(body.origin, body.size, body.root)
