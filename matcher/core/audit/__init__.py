"""The audit log's pure core: entries, the RFC 9162 Merkle tree, proofs, signed checkpoints and
the export's offline verification.

Every access to a hit, request or disclosure is an :class:`AuditEntry`. Entries are leaves of an
append-only Merkle tree hashed as RFC 9162 section 2.1 defines (leaf = SHA-256(0x00 || entry
bytes), node = SHA-256(0x01 || left || right), any tree size), so an auditor holding one signed
checkpoint can check that an entry is in the log (inclusion proof) and that a later log still
contains an earlier one unchanged (consistency proof). Checkpoints are C2SP ``tlog-checkpoint``
bodies signed as C2SP signed notes with the log's Ed25519 key.

One module per concept, layered as transparency-dev/merkle and transparency-dev/formats are:

- :mod:`.errors`: the :class:`AuditError` family;
- :mod:`.entry`: :class:`AuditEntry`, :class:`Actor`, :class:`Outcome`, :class:`PolicyRef`, the
  canonical entry bytes and the personal-data guard;
- :mod:`.hashing`: RFC 9162 leaf and node hashes (``rfc6962/`` there);
- :mod:`.tree`: roots, the compact :class:`RootBuilder`, and the :class:`NodeSource` subtree
  hashes that proofs are built from (:class:`LeafRangeSource`, :class:`MemoryTree`);
- :mod:`.proof`: building inclusion and consistency proofs (``proof/proof.go``);
- :mod:`.verify`: checking them with hashes only (``proof/verify.go``);
- :mod:`.checkpoint`: checkpoints and signed notes (``log/checkpoint.go``);
- :mod:`.export`: the export's lines and their offline verification (the file edge is
  :mod:`matcher.auditlog`).

Every public name is re-exported here: import from ``matcher.core.audit``.
No I/O and no clock here: the entry time, the keys and the export's lines come in as arguments.
"""

from __future__ import annotations

from matcher.core.audit.checkpoint import (
    Checkpoint,
    checkpoint_body,
    parse_and_verify_checkpoint,
    sign_checkpoint,
)
from matcher.core.audit.entry import (
    Actor,
    AuditEntry,
    Outcome,
    PolicyRef,
    format_time,
    looks_personal,
)
from matcher.core.audit.errors import (
    AuditError,
    CheckpointError,
    InvalidAuditEntry,
    PersonalDataInEntry,
    ProofRangeError,
)
from matcher.core.audit.export import (
    EXPORT_FORMAT,
    Summary,
    VerifyError,
    export_lines,
    verify_export_lines,
)
from matcher.core.audit.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from matcher.core.audit.proof import consistency_proof, inclusion_proof
from matcher.core.audit.tree import (
    LeafHashes,
    LeafRangeSource,
    MemoryTree,
    NodeSource,
    RootBuilder,
    root,
    tree_root,
)
from matcher.core.audit.verify import verify_consistency, verify_inclusion

__all__ = [
    "EMPTY_ROOT",
    "EXPORT_FORMAT",
    "HASH_SIZE",
    "Actor",
    "AuditEntry",
    "AuditError",
    "Checkpoint",
    "CheckpointError",
    "InvalidAuditEntry",
    "LeafHashes",
    "LeafRangeSource",
    "MemoryTree",
    "NodeSource",
    "Outcome",
    "PersonalDataInEntry",
    "PolicyRef",
    "ProofRangeError",
    "RootBuilder",
    "Summary",
    "VerifyError",
    "checkpoint_body",
    "consistency_proof",
    "export_lines",
    "format_time",
    "inclusion_proof",
    "leaf_hash",
    "looks_personal",
    "node_hash",
    "parse_and_verify_checkpoint",
    "root",
    "sign_checkpoint",
    "tree_root",
    "verify_consistency",
    "verify_export_lines",
    "verify_inclusion",
]
