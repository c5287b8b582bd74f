"""The witness side of the access log in the wire contract (contract/tlog.py), checked against
the C2SP specifications' own example and against attacks on a cosignature."""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import tlog
from matcher.core.audit import consistency_proof
from matcher.core.audit.tree import tree_root

# C2SP tlog-cosignature's example (its text wraps the base64 over two lines; joined here).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_LOG_SIGNATURE = (
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8="
)


def test_the_specs_example_parses_with_its_timestamp_and_body() -> None:
    note = tlog.parse_note(f"{SPEC_CHECKPOINT}\n{SPEC_LOG_SIGNATURE}\n{SPEC_COSIGNATURE}\n")
    body = tlog.parse_checkpoint_body(note.text)
    assert (body.origin, body.size) == ("example.com/behind-the-sofa", 20852163)
    (cosignature,) = note.by("witness.example.com/w1")
    assert len(cosignature.blob) == 4 + 8 + 64
    # the spec's signed-message example says "time 1679315147": the u64 after the key id
    assert struct.unpack(">Q", cosignature.blob[4:12]) == (1679315147,)
    assert note.render() == f"{SPEC_CHECKPOINT}\n{SPEC_LOG_SIGNATURE}\n{SPEC_COSIGNATURE}\n"


def test_a_cosignature_verifies_only_for_its_key_name_and_text() -> None:
    key = Ed25519PrivateKey.generate()
    name = "witness.linbo.se/w1"
    signature = tlog.cosign(SPEC_CHECKPOINT, name, key, 1_780_000_000)
    public = key.public_key()
    assert tlog.verify_cosignature(SPEC_CHECKPOINT, signature, "witness.linbo.se/w1", public) == (
        1_780_000_000
    )
    # the key id is the spec's SHA-256(name || "\n" || 0x04 || key)[:4]
    raw = tlog.raw_public_key(public)
    expected = hashlib.sha256(b"witness.linbo.se/w1\n\x04" + raw).digest()[:4]
    assert signature.blob[:4] == expected
    other_text = SPEC_CHECKPOINT.replace("20852163", "20852164")
    assert tlog.verify_cosignature(other_text, signature, "witness.linbo.se/w1", public) is None
    other_key = Ed25519PrivateKey.generate().public_key()
    assert (
        tlog.verify_cosignature(SPEC_CHECKPOINT, signature, "witness.linbo.se/w1", other_key)
        is None
    )
    renamed = tlog.Signature("witness.other/w1", signature.blob)
    assert tlog.verify_cosignature(SPEC_CHECKPOINT, renamed, "witness.other/w1", public) is None
    # a changed timestamp breaks the signature (the time is signed)
    blob = bytearray(signature.blob)
    blob[11] ^= 1
    moved = tlog.Signature(signature.name, bytes(blob))
    assert tlog.verify_cosignature(SPEC_CHECKPOINT, moved, "witness.linbo.se/w1", public) is None
    # a plain note signature (type 0x01) is not a cosignature of the same key
    assert signature.blob[:4] != tlog.note_key_id("witness.linbo.se/w1", public)


@pytest.mark.parametrize(
    "bad",
    ["no newline", "text\n", "text\n\n\u2014 name !!notbase64!!\n", "text\n\nplain line\n"],
)
def test_malformed_notes_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(tlog.NoteError):
        tlog.parse_note(bad)


def test_consistency_holds_for_appends_and_fails_for_another_history() -> None:
    leaves = [tlog.leaf_hash(f"entry {i}".encode()) for i in range(40)]
    forked = [*leaves[:20], tlog.leaf_hash(b"rewritten"), *leaves[21:]]
    for m, n in [(1, 40), (7, 13), (16, 32), (20, 40), (21, 40), (39, 40)]:
        proof = consistency_proof(leaves, m, n)
        assert tlog.verify_consistency(m, n, tree_root(leaves, m), tree_root(leaves, n), proof)
        if m > 20:  # the rewritten entry is inside the tree the witness cosigned
            fork_proof = consistency_proof(forked, m, n)
            assert not tlog.verify_consistency(
                m, n, tree_root(leaves, m), tree_root(forked, n), fork_proof
            )
    assert tree_root([], 0) == tlog.EMPTY_ROOT
