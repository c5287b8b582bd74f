"""The audit log's errors, one family under :class:`AuditError`.

Each is raised by the module of its concept: :class:`InvalidAuditEntry` and
:class:`PersonalDataInEntry` by :mod:`.entry`, :class:`ProofRangeError` by :mod:`.tree` and
:mod:`.proof`, :class:`CheckpointError` by :mod:`.checkpoint`.
"""

from __future__ import annotations

from matcher.errors import MatcherError

__all__ = [
    "AuditError",
    "CheckpointError",
    "InvalidAuditEntry",
    "PersonalDataInEntry",
    "ProofRangeError",
]


class AuditError(MatcherError):
    """Base of the audit log's errors."""

    slug = "audit"
    title = "Audit log error"


class InvalidAuditEntry(AuditError, ValueError):
    """An entry is malformed. Raised when one is built or parsed; at append time it is a bug."""

    slug = "invalid-audit-entry"
    title = "Audit entry invalid"


class PersonalDataInEntry(InvalidAuditEntry):
    """A string in an entry looks like personal data. The message names the field, never the
    value: entries leave the company (auditors, exports), personal data must not."""

    slug = "personal-data-in-audit-entry"
    title = "Audit entry would contain personal data"


class ProofRangeError(AuditError, ValueError):
    """A proof was asked for an index or size the log does not have."""

    status = 422
    slug = "invalid-proof-range"
    title = "No such proof"


class CheckpointError(AuditError):
    """A checkpoint is malformed, signed by another key, or its signature does not verify."""

    status = 422
    slug = "invalid-checkpoint"
    title = "Checkpoint invalid"
