"""Checking RFC 9162 proofs: inclusion (section 2.1.3.2) and consistency (section 2.1.4.2,
in :mod:`contract.tlog`, which a company's witness runs too).

Only hashes go in: the leaf or the two roots, the sizes and the proof. Nothing of the log is
needed, so an auditor or a company can run these against a checkpoint they pinned. Both return
``False`` for any proof that does not check (including malformed hashes), never raise.
"""

from __future__ import annotations

from collections.abc import Sequence

from contract.tlog import all_hashes as _all_hashes
from contract.tlog import verify_consistency
from matcher.core.audit.hashing import node_hash

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
