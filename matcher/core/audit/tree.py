"""The log's tree: roots of any size and the subtree hashes proofs are built from.

:class:`RootBuilder` keeps the compact range of a growing log (one hash per complete subtree,
O(log n) memory) and gives its root: what a verifier needs to recompute an export's root in one
pass. Proof building reads subtree hashes through a :class:`NodeSource`.
:class:`LeafRangeSource` computes them from a function returning leaf hashes for a range:
O(size of the subtree) per node, so O(n) hash computations per proof. :class:`MemoryTree`
keeps every complete subtree hash (the store can persist the nodes :meth:`MemoryTree.append`
reports) and answers a proof with O(log n) node look-ups and no hashing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from matcher.core.audit.errors import ProofRangeError
from matcher.core.audit.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "LeafHashes",
    "LeafRangeSource",
    "MemoryTree",
    "NodeSource",
    "RootBuilder",
    "root",
    "tree_root",
]


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
