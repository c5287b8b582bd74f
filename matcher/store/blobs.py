"""Content-addressed blob folder: ``blobs/<aa>/<sha256>`` under the data directory.

Uploads stream into ``blobs/tmp/`` while they are hashed; an accepted file is fsynced and
renamed into place, so a blob path either does not exist or holds the complete file. Equal
content has one path, which makes re-uploads free.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from matcher.errors import PayloadTooLarge

__all__ = ["BlobStore", "PendingBlob"]

_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class PendingBlob:
    """A file being received: written to a temporary name, hashed and counted as it goes."""

    path: Path
    limit: int
    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _out: BinaryIO | None = None

    def __post_init__(self) -> None:
        self._out = self.path.open("xb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise PayloadTooLarge(
                f"records.parquet is larger than this matcher accepts ({self.limit} bytes)"
            )
        assert self._out is not None
        self._out.write(chunk)
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Flush and fsync: the bytes are on disk before anything refers to them."""
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class BlobStore:
    root: Path

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def ensure(self) -> None:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("a blob key is a lower-case SHA-256 hex digest")
        return self.root / key[:2] / key

    def receive(self, limit: int) -> PendingBlob:
        self.ensure()
        return PendingBlob(self.tmp_dir / f"upload-{secrets.token_hex(16)}.part", limit)

    def commit(self, pending: PendingBlob) -> str:
        """Move a finished upload to its content address and return the key."""
        pending.finish()
        key = pending.sha256
        target = self.path_for(key)
        if target.exists():
            # Same bytes are already stored (an earlier extract); keep one copy.
            pending.discard()
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending.path, target)
        _fsync_dir(target.parent)
        return key

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
