"""The audit log's tree: RFC 9162 hashing, roots, and building and verifying proofs
(matcher.core.audit.hashing, .tree, .proof, .verify).

Known-answer vectors are ported from transparency-dev/merkle (``proof/verify_test.go``: leaf
inputs, roots of sizes 1-8, inclusion and consistency proofs), so the log interoperates with
standard tooling. Everything else is checked against a direct transcription of the RFC's
recursive definitions.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import pytest

from matcher.core.audit import (
    EMPTY_ROOT,
    LeafRangeSource,
    MemoryTree,
    ProofRangeError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# --- transparency-dev/merkle proof/verify_test.go ----------------------------------------------
LEAVE_HEX = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
LEAVE_HEX.append("606162636465666768696a6b6c6d6e6f")
LEAVES = [bytes.fromhex(h) for h in LEAVE_HEX]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof); the Go table counts leaves from 1, these from 0.
INCLUSION_VECTORS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
VECTOR_HASHES = [leaf_hash(leaf) for leaf in LEAVES]


# --- RFC 9162 section 2.1, transcribed literally (slow, recursive, obviously right) -------------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [rfc_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*rfc_subproof(m, d[:k], b), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


DATA = [f"entry {i}".encode() for i in range(64)]
HASHES = [leaf_hash(d) for d in DATA]
ROOTS_BY_SIZE = [root(HASHES[:n]) for n in range(65)]


def _flip(value: bytes, byte: int = 0, bit: int = 3) -> bytes:
    return value[:byte] + bytes([value[byte] ^ (1 << bit)]) + value[byte + 1 :]


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    built = MemoryTree()
    built.extend(HASHES)
    return built


# --- hashing and roots ---------------------------------------------------------------------------
def test_roots_match_the_reference_vectors_for_sizes_1_to_8() -> None:
    assert [root(VECTOR_HASHES[:n]).hex() for n in range(1, 9)] == ROOTS
    assert (
        root([])
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # Without the 0x00 / 0x01 prefixes a leaf could pose as an interior node (RFC 9162 2.1.1).
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


def test_roots_for_every_size_up_to_64_follow_the_rfc_definition(tree: MemoryTree) -> None:
    for n in range(65):
        expected = rfc_mth(DATA[:n])
        assert ROOTS_BY_SIZE[n] == expected
        assert tree.root(n) == expected
        assert tree_root(HASHES, n) == expected


def test_memory_tree_reports_the_subtrees_each_append_completes() -> None:
    built = MemoryTree()
    assert built.append(HASHES[0]) == [(0, 0, HASHES[0])]
    assert [n[:2] for n in built.append(HASHES[1])] == [(0, 1), (1, 0)]
    assert [n[:2] for n in built.append(HASHES[2])] == [(0, 2)]
    completed = built.append(HASHES[3])
    assert [n[:2] for n in completed] == [(0, 3), (1, 1), (2, 0)]
    assert completed[-1][2] == root(HASHES[:4]) == built.node(2, 0)


# --- inclusion ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_reference_vectors(
    index: int, size: int, proof: list[str]
) -> None:
    expected = [bytes.fromhex(p) for p in proof]
    assert inclusion_proof(VECTOR_HASHES, index, size) == expected
    assert verify_inclusion(
        VECTOR_HASHES[index], index, size, expected, bytes.fromhex(ROOTS[size - 1])
    )


def test_inclusion_proofs_for_every_index_and_size_up_to_64(tree: MemoryTree) -> None:
    ranged = LeafRangeSource(lambda start, end: HASHES[start:end])
    for size in range(1, 65):
        for index in range(size):
            proof = inclusion_proof(tree, index, size)
            assert proof == rfc_path(index, DATA[:size])
            assert verify_inclusion(HASHES[index], index, size, proof, ROOTS_BY_SIZE[size])
            if size % 9 == 0:  # the O(n) source, on a sample of sizes (it is slow by design)
                assert inclusion_proof(ranged, index, size) == proof


def test_inclusion_verification_rejects_every_mutation() -> None:
    # The corruptions of transparency-dev/merkle's corruptInclusionProof, on every proof <= 20.
    some_hash = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    for size in range(1, 21):
        r = ROOTS_BY_SIZE[size]
        for index in range(size):
            leaf, proof = HASHES[index], inclusion_proof(HASHES, index, size)
            bad: list[tuple[bytes, int, int, list[bytes], bytes]] = [
                (leaf, index - 1, size, proof, r),
                (leaf, index + 1, size, proof, r),
                (leaf, index ^ 2, size, proof, r),
                (leaf, index, size * 2, proof, r),
                (leaf, index, size // 2, proof, r),
                (HASHES[(index + 1) % 64], index, size, proof, r),
                (_flip(leaf), index, size, proof, r),
                (leaf, index, size, proof, _flip(r, 31, 0)),
                (leaf, index, size, proof, EMPTY_ROOT),
                (leaf, index, size, [*proof, r], r),
                (leaf, index, size, [r, *proof], r),
                (leaf, index, size, [*proof, b""], r),
            ]
            bad += [
                (leaf, index, size, [*proof[:i], _flip(p), *proof[i + 1 :]], r)
                for i, p in enumerate(proof)
            ]
            if proof:
                bad.append((leaf, index, size, proof[:-1], r))
            if len(proof) > 1:
                bad.append((leaf, index, size, [proof[0], some_hash, *proof[1:]], r))
            for args in bad:
                assert not verify_inclusion(*args), (index, size, args[1:3])


def test_single_entry_tree_has_an_empty_proof_and_the_leaf_as_root() -> None:
    assert inclusion_proof(HASHES, 0, 1) == []
    assert verify_inclusion(HASHES[0], 0, 1, [], HASHES[0])
    assert not verify_inclusion(HASHES[0], 0, 1, [], b"")
    assert not verify_inclusion(HASHES[0], 0, 0, [], EMPTY_ROOT)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3), (70, 80)])
def test_proofs_outside_the_log_are_refused(tree: MemoryTree, index: int, size: int) -> None:
    with pytest.raises(ProofRangeError):
        inclusion_proof(tree, index, size)


# --- consistency -------------------------------------------------------------------------------
@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_reference_vectors(m: int, n: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(p) for p in proof]
    assert consistency_proof(VECTOR_HASHES, m, n) == expected
    assert verify_consistency(
        m, n, bytes.fromhex(ROOTS[m - 1]), bytes.fromhex(ROOTS[n - 1]), expected
    )


def test_consistency_proofs_for_every_pair_of_sizes_up_to_64(tree: MemoryTree) -> None:
    for n in range(65):
        for m in range(n + 1):
            proof = consistency_proof(tree, m, n)
            if m > 0:
                assert proof == rfc_subproof(m, DATA[:n], True)
            assert verify_consistency(m, n, ROOTS_BY_SIZE[m], ROOTS_BY_SIZE[n], proof), (m, n)


def test_consistency_verification_rejects_every_mutation() -> None:
    for n in range(2, 25):
        for m in range(1, n):
            r1, r2 = ROOTS_BY_SIZE[m], ROOTS_BY_SIZE[n]
            proof = consistency_proof(HASHES, m, n)
            bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
                (m - 1, n, r1, r2, proof),
                (m + 1, n, r1, r2, proof),
                (m, n * 2, r1, r2, proof),
                (m, n // 2, r1, r2, proof),
                (m, n, _flip(r1, 5), r2, proof),
                (m, n, r1, _flip(r2, 5), proof),
                (m, n, r2, r1, proof),
                (m, n, r1, r2, []),
                (m, n, r1, r2, [*proof, r1]),
                (m, n, r1, r2, [*proof, r2]),
                (m, n, r1, r2, [r1, *proof]),
                (m, n, r1, r2, [proof[0], *proof]),
                (m, n, r1, r2, proof[:-1]),
            ]
            bad += [
                (m, n, r1, r2, [*proof[:i], _flip(p, 0, 4), *proof[i + 1 :]])
                for i, p in enumerate(proof)
            ]
            if m ^ 2 != m and m ^ 2 < n:
                bad.append((m ^ 2, n, r1, r2, proof))
            for args in bad:
                assert not verify_consistency(*args), (m, n)


def test_consistency_edge_cases_follow_transparency_dev() -> None:
    r = ROOTS_BY_SIZE
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r[5], [])
    assert verify_consistency(4, 4, r[4], r[4], [])
    assert not verify_consistency(4, 4, r[4], r[5], [])
    assert not verify_consistency(4, 4, r[4], r[4], [EMPTY_ROOT])  # roots match, proof not empty
    assert not verify_consistency(5, 4, r[5], r[4], [])  # time travel
    assert not verify_consistency(1, 2, r[1], r[2], [])
    with pytest.raises(ProofRangeError):
        consistency_proof(HASHES, 5, 4)


def test_proofs_from_a_large_log_take_log_n_node_reads() -> None:
    # The store persists what MemoryTree.append reports; a proof must then read O(log n) nodes.
    rng = random.Random(9162)
    built, reads = MemoryTree(), []
    built.extend([rng.randbytes(32) for _ in range(5000)])

    class Counting:
        def node(self, level: int, index: int) -> bytes:
            reads.append((level, index))
            return built.node(level, index)

    for _ in range(20):
        size = rng.randrange(2, 5001)
        index, m = rng.randrange(size), rng.randrange(1, size)
        reads.clear()
        proof = inclusion_proof(Counting(), index, size)
        assert len(reads) <= 2 * size.bit_length()
        assert verify_inclusion(built.node(0, index), index, size, proof, built.root(size))
        reads.clear()
        proof = consistency_proof(Counting(), m, size)
        assert len(reads) <= 2 * size.bit_length()
        assert verify_consistency(m, size, built.root(m), built.root(size), proof)
