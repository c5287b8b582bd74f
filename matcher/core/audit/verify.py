"""Checking RFC 9162 proofs: inclusion (section 2.1.3.2) and consistency (section 2.1.4.2).

Only hashes go in: the leaf or the two roots, the sizes and the proof. Nothing of the log is
needed, so an auditor or a company can run these against a checkpoint they pinned. Both return
``False`` for any proof that does not check (including malformed hashes), never raise.
"""

from __future__ import annotations

from collections.abc import Sequence

from matcher.core.audit.hashing import HASH_SIZE, node_hash

__all__ = ["verify_consistency", "verify_inclusion"]


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
