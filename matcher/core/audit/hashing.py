"""RFC 9162 section 2.1 hashing: leaves and interior nodes of the log's Merkle tree.

leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || left || right), and the root of the
empty tree is SHA-256 of nothing. The 0x00/0x01 prefixes keep a leaf from posing as a node.
The functions live in the wire contract (:mod:`contract.tlog`), because a company's witness
checks the same tree.
"""

from __future__ import annotations

from contract.tlog import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash"]
