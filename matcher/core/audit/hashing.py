"""RFC 9162 section 2.1 hashing: leaves and interior nodes of the log's Merkle tree.

leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || left || right), and the root of the
empty tree is SHA-256 of nothing. The 0x00/0x01 prefixes keep a leaf from posing as a node.
"""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash"]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162: MTH({}) = HASH()


def leaf_hash(entry: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || entry bytes)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()
