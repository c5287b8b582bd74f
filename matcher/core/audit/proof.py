"""Building RFC 9162 proofs: inclusion (section 2.1.3.1) and consistency (section 2.1.4.1).

Proofs are built from subtree hashes of the log (a list of leaf hashes or a
:class:`~matcher.core.audit.tree.NodeSource`); checking one needs none of that and lives in
:mod:`matcher.core.audit.verify`, as transparency-dev/merkle keeps ``proof.go`` apart from
``verify.go``.
"""

from __future__ import annotations

from collections.abc import Sequence

from matcher.core.audit.errors import ProofRangeError
from matcher.core.audit.tree import (
    NodeSource,
    _largest_power_of_two_below,
    _range_hash,
    _source,
)

__all__ = ["consistency_proof", "inclusion_proof"]


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
