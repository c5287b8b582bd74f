"""Checkpoints (matcher.core.audit.checkpoint): the C2SP tlog-checkpoint layout and signed notes.

The signed-note vector is ported from golang.org/x/mod/sumdb/note (the PeterNeumann key and its
signed note), so the log's checkpoints interoperate with standard tooling.
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from matcher.core.audit import (
    CheckpointError,
    checkpoint_body,
    leaf_hash,
    parse_and_verify_checkpoint,
    root,
    sign_checkpoint,
)
from matcher.crypto import generate_log_key, log_public_key, note_key_id, sign_note

DATA = [f"entry {i}".encode() for i in range(64)]
HASHES = [leaf_hash(d) for d in DATA]
ROOTS_BY_SIZE = [root(HASHES[:n]) for n in range(65)]


def _flip(value: bytes, byte: int = 0, bit: int = 3) -> bytes:
    return value[:byte] + bytes([value[byte] ^ (1 << bit)]) + value[byte + 1 :]


# --- checkpoints -------------------------------------------------------------------------------
# golang.org/x/mod/sumdb/note note_test.go: vkey PeterNeumann+c74f20a3+ARpc2Q..., its seed, note.
GO_PUBLIC = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_private_pem() -> bytes:
    return Ed25519PrivateKey.from_private_bytes(GO_SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_signed_notes_match_the_go_reference_byte_for_byte() -> None:
    private_pem = _go_private_pem()
    public_pem = log_public_key(private_pem)
    assert (
        serialization.load_pem_public_key(public_pem).public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        == GO_PUBLIC
    )
    assert note_key_id("PeterNeumann", public_pem).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", private_pem) == GO_NOTE


@pytest.fixture(scope="module")
def log_key() -> tuple[bytes, bytes]:
    private_pem = generate_log_key()
    return private_pem, log_public_key(private_pem)


def test_checkpoints_have_the_tlog_checkpoint_layout(log_key: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = log_key
    r = ROOTS_BY_SIZE[13]
    body = checkpoint_body("crosscheck.example/audit", 13, r)
    assert body == f"crosscheck.example/audit\n13\n{base64.b64encode(r).decode()}\n"
    note = sign_checkpoint("crosscheck.example/audit", 13, r, "crosscheck-audit", private_pem)
    text, signature = note.split("\n\n")
    assert text + "\n" == body
    assert re.fullmatch(r"— crosscheck-audit [A-Za-z0-9+/]{91}=\n", signature)
    checkpoint = parse_and_verify_checkpoint(note, public_pem, "crosscheck-audit")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "crosscheck.example/audit",
        13,
        r,
    )


def test_checkpoint_mutations_are_each_refused_with_a_reason(
    log_key: tuple[bytes, bytes],
) -> None:
    private_pem, public_pem = log_key
    note = sign_checkpoint("origin", 13, ROOTS_BY_SIZE[13], "log", private_pem)
    other_public = log_public_key(generate_log_key())
    sig_line = note.split("\n\n")[1]
    blob = base64.b64decode(sig_line.split(" ")[2])
    cases = {
        "does not verify": [
            note.replace("\n13\n", "\n14\n"),  # a checkpoint claiming another size
            note.replace(sig_line, f"— log {base64.b64encode(_flip(blob, 20)).decode()}\n"),
        ],
        "not signed by key 'log'": [note.replace("— log ", "— other ")],
        "malformed": [note.rstrip("\n"), note.replace("— log", "-- log")],
    }
    for reason, bad_notes in cases.items():
        for bad in bad_notes:
            with pytest.raises(CheckpointError, match=reason):
                parse_and_verify_checkpoint(bad, public_pem, "log")
    with pytest.raises(CheckpointError, match="does not verify"):
        parse_and_verify_checkpoint(note, other_public, "log")
    with pytest.raises(CheckpointError, match="not signed by key 'other'"):
        parse_and_verify_checkpoint(note, public_pem, "other")


def test_witness_signatures_from_other_keys_are_ignored(log_key: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = log_key
    note = sign_checkpoint("origin", 3, ROOTS_BY_SIZE[3], "log", private_pem)
    witness = sign_note(note.split("\n\n")[0] + "\n", "witness.example", generate_log_key())
    cosigned = note + witness.split("\n\n")[1]
    assert parse_and_verify_checkpoint(cosigned, public_pem, "log").size == 3
