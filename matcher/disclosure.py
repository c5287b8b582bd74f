"""The disclosure edge: read the allowed fields of a hit's two records out of the stored extracts.

This is the only place that opens sealed fields. It runs after the policy allowed a disclosure
(:func:`matcher.core.decisions.evaluate_disclosure`) and is handed exactly the allowed field set:
per record it scans the extract's ``records.parquet`` for the one ``ref`` (only that row and the
columns it needs), unwraps the extract's data key with the reveal private key file, and opens
only the allowed ``sealed_*`` columns. Fields the matcher holds in plain columns
(:data:`~contract.PLAIN_REVEALABLE_FIELDS`) are read from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from uuid import UUID

import polars as pl

from contract import PLAIN_REVEALABLE_FIELDS, REF_COLUMN, SEALED_FIELDS, sealed_column
from matcher.crypto import open_sealed, unwrap_data_key
from matcher.errors import ConfigError, MatcherError

__all__ = [
    "LEAD_NOT_VERDICT",
    "DisclosedRecord",
    "DisclosureUnavailable",
    "RecordSource",
    "disclose",
    "read_record",
]

LEAD_NOT_VERDICT = (
    "A hit is a lead, not a verdict: these records only show that the rule's conditions were "
    "met. Check the facts with the tenant and the other company before anything is decided."
)


class DisclosureUnavailable(MatcherError):
    """The record can no longer be read: retention destroyed the extract's data key or blob, or
    the record is not in the extract. Says which extract, never what is in it."""

    status = 410
    slug = "disclosure-unavailable"
    title = "Disclosure no longer available"


@dataclass(frozen=True)
class RecordSource:
    """Where one side of a hit is stored: company, extract, record ref, blob file, wrapped key
    (None once retention destroyed it)."""

    company_id: str
    extract_id: str
    ref: str
    blob_path: Path
    wrapped_data_key: str | None


@dataclass(frozen=True)
class DisclosedRecord:
    """One record's allowed fields, in the policy's field order (None: the field was empty)."""

    company_id: str
    values: Mapping[str, str | None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


def _plain(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_record(
    source: RecordSource, fields: Sequence[str], reveal_private_pem: bytes
) -> DisclosedRecord:
    """The values of ``fields`` of one record; only those columns are read and opened."""
    unknown = [f for f in fields if f not in SEALED_FIELDS and f not in PLAIN_REVEALABLE_FIELDS]
    if unknown:
        # The policy checker refuses such fields; reaching here is a bug, not a user error.
        raise ValueError(f"not revealable: {', '.join(unknown)}")
    if source.wrapped_data_key is None or not source.blob_path.is_file():
        raise DisclosureUnavailable(
            f"the records of extract {source.extract_id} were deleted by retention "
            "(superseded extract); the fields can no longer be revealed"
        )
    sealed = [f for f in fields if f in SEALED_FIELDS]
    plain = [f for f in fields if f in PLAIN_REVEALABLE_FIELDS]
    columns = [*plain, *(sealed_column(f) for f in sealed)]
    rows = (
        pl.scan_parquet(source.blob_path)
        .filter(pl.col(REF_COLUMN) == source.ref)
        .select(columns)
        .collect()
    )
    if rows.height != 1:
        raise DisclosureUnavailable(
            f"extract {source.extract_id} holds {rows.height} records with the hit's ref, "
            "expected one; the operator checks the stored extract"
        )
    row = rows.row(0, named=True)
    values: dict[str, str | None] = {}
    data_key = (
        unwrap_data_key(
            source.wrapped_data_key,
            reveal_private_pem,
            source.company_id,
            UUID(source.extract_id),
        )
        if sealed
        else b""
    )
    extract_uuid = UUID(source.extract_id)
    for field in fields:
        if field in PLAIN_REVEALABLE_FIELDS:
            values[field] = _plain(row[field])
            continue
        blob = row[sealed_column(field)]
        values[field] = (
            None
            if blob is None
            else open_sealed(data_key, extract_uuid, source.ref, field, bytes(blob))
        )
    return DisclosedRecord(source.company_id, values)


def disclose(
    sources: Sequence[RecordSource], fields: Sequence[str], reveal_private_key_path: Path
) -> tuple[DisclosedRecord, ...]:
    """Both records of a hit, side by side, with exactly ``fields``."""
    try:
        private_pem = reveal_private_key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the reveal private key {reveal_private_key_path} is missing or unreadable; "
            "without it no disclosure can be read"
        ) from exc
    return tuple(read_record(source, fields, private_pem) for source in sources)
