"""The audit export file on disk: writing it atomically, and reading it to verify offline.

The edge of :mod:`matcher.core.audit.export`, which holds the format and the verification (pure:
lines in, a :class:`Summary` or a :class:`VerifyError` out). Used by ``matcher audit export`` and
``matcher audit verify``; the export's names are re-exported here for the callers that import
them from this module.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from matcher.core.audit import (
    EXPORT_FORMAT,
    AuditEntry,
    Summary,
    VerifyError,
    export_lines,
    verify_export_lines,
)

__all__ = [
    "EXPORT_FORMAT",
    "Summary",
    "VerifyError",
    "export_lines",
    "verify_export",
    "verify_export_lines",
    "write_export",
]


def write_export(
    path: Path, origin: str, key_name: str, entries: Iterable[bytes | AuditEntry], note: str
) -> int:
    """Write the export file atomically (a half-written export never replaces a good one).
    Returns the number of entries written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".audit-export-", dir=path.parent)
    count = -2  # header and checkpoint lines are not entries
    try:
        with os.fdopen(fd, "wb") as out:
            for line in export_lines(origin, key_name, entries, note):
                out.write(line + b"\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def verify_export(
    path: Path,
    public_key_pem: bytes,
    *,
    key_name: str | None = None,
    pinned_checkpoint: str | None = None,
) -> Summary:
    """Verify an export file offline; see :func:`verify_export_lines`."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise VerifyError(f"cannot read the export file {path}: {exc.strerror}") from exc
    with handle:
        return verify_export_lines(
            (line.rstrip(b"\n") for line in handle),
            public_key_pem,
            key_name=key_name,
            pinned_checkpoint=pinned_checkpoint,
        )
