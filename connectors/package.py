"""The upload package on disk: ``records.parquet`` plus a signed ``manifest.json``.

Writing is all-or-nothing: both files go to temporary names first and are renamed into place
(records first, manifest last; an old manifest is removed before anything is renamed), so a
crash leaves either no package or a folder that :func:`read_manifest` refuses, never a
manifest that vouches for the wrong records. Verification here mirrors what the matcher
checks (signature, SHA-256, row count, schema), and :func:`describe_package` backs
``connector inspect``: it lists what would leave the company and looks for readable personal
data in it. Signing itself is :mod:`connectors.pseudonymise`'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final
from uuid import UUID

import polars as pl
import pyarrow.parquet as pq
from pydantic import ValidationError

from connectors.errors import PackageError
from connectors.pseudonymise import (
    SigningKey,
    reveal_kem_of,
    sign_manifest,
    verify_manifest,
)
from contract import (
    BLOCK_PREFIX,
    CONTRACT_COLUMNS,
    CONTRACT_TYPES,
    MANIFEST_FILE,
    RECORDS_FILE,
    REF_COLUMN,
    EncodingParameters,
    Manifest,
    encoding_digest,
    filter_column,
    pem_fingerprint,
    sealed_column,
    token_column,
)

__all__ = [
    "PackageSummary",
    "describe_package",
    "expected_schema",
    "read_manifest",
    "verify_package",
    "write_package",
]

# Files a package folder may hold: ours, and the reports the CLI writes next to them.
_PACKAGE_FILES: Final = frozenset({RECORDS_FILE, MANIFEST_FILE, "report.json", "report.html"})
_TEMP_PREFIX: Final = ".crosscheck-tmp-"
_COMPRESSION: Final = "lz4"
# Parquet key-value metadata polars writes by itself; anything else could carry data.
_ALLOWED_METADATA: Final = frozenset({b"ARROW:schema"})
_AES_GCM_OVERHEAD: Final = 12 + 16  # nonce prefix + tag: the shortest possible sealed value
_REF_PATTERN: Final = r"^[0-9a-f]{32}$"
# What a leaked identifier would look like in a String column.
_LEAK_PATTERNS: Final = {
    "a personnummer": r"\b(?:19|20)?\d{6}[-+]?\d{4}\b",
    "an e-mail address": r"[^\s@]+@[^\s@]+\.[a-z]{2,}",
    "a phone number": r"(?:\+|00)\d{7,14}\b|\b0\d{1,3}[- ]?\d{5,8}\b",
}


@dataclass(frozen=True)
class PackageSummary:
    """What a package would send: for ``connector inspect``. Empty findings = nothing readable."""

    manifest: Manifest
    columns: tuple[tuple[str, str], ...]
    row_count: int
    plaintext_findings: tuple[str, ...]


def expected_schema(encoding: EncodingParameters) -> tuple[tuple[str, str], ...]:
    """records.parquet's columns and polars dtype names, in order, for these parameters."""
    return (
        (REF_COLUMN, "String"),
        *((token_column(name), "Binary") for name in encoding.token_fields),
        *((BLOCK_PREFIX + name, "Binary") for name in encoding.blocking_keys),
        *((column, "Binary") for column in encoding.filter_columns()),
        *CONTRACT_COLUMNS.items(),
        *((sealed_column(name), "Binary") for name in encoding.sealed_fields),
    )


def _schema_of(frame_schema: Mapping[str, pl.DataType]) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(dtype)) for name, dtype in frame_schema.items())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise PackageError(f"{out_dir} is a file; expected a folder for the package.")
    out_dir.mkdir(parents=True, exist_ok=True)
    foreign = sorted(
        entry.name
        for entry in out_dir.iterdir()
        if entry.name not in _PACKAGE_FILES and not entry.name.startswith(_TEMP_PREFIX)
    )
    if foreign:
        raise PackageError(
            f"{out_dir} holds other files ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); expected an empty folder or a previous "
            "package. Choose another --out folder."
        )


def write_package(
    out_dir: Path,
    records: pl.DataFrame,
    *,
    company_id: str,
    extract_id: UUID,
    as_of: date,
    created_at: datetime,
    matching_key_epoch: str,
    encoding: EncodingParameters,
    reveal_public_pem: bytes,
    wrapped_data_key: str,
    signing_key: SigningKey,
) -> Manifest:
    """Write records.parquet (lz4) and the signed manifest.json; return the manifest."""
    schema = _schema_of(records.schema)
    if schema != expected_schema(encoding):
        raise PackageError(
            "the records do not have the contract's columns and types for these encoding "
            "parameters; this is a bug in the connector, please report it."
        )
    _prepare_out_dir(out_dir)
    records_tmp = out_dir / f"{_TEMP_PREFIX}{RECORDS_FILE}"
    manifest_tmp = out_dir / f"{_TEMP_PREFIX}{MANIFEST_FILE}"
    try:
        # No column statistics: min/max values are one more place data could surface.
        # lz4, not zstd: tokens, filters and ciphertext are random bytes, so zstd made the file
        # only 14 % smaller (593 vs 687 MB per 1M rows) and took 2.4x as long to write.
        records.write_parquet(records_tmp, compression=_COMPRESSION, statistics=False)
        with records_tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        unsigned = Manifest(
            company_id=company_id,
            extract_id=extract_id,
            as_of=as_of,
            created_at=created_at,
            matching_key_epoch=matching_key_epoch,
            reveal_key_fingerprint=pem_fingerprint(reveal_public_pem),
            reveal_kem=reveal_kem_of(reveal_public_pem),
            encoding=encoding,
            encoding_digest=encoding_digest(encoding),
            row_count=records.height,
            records_sha256=_sha256(records_tmp),
            wrapped_data_key=wrapped_data_key,
        )
        manifest = sign_manifest(unsigned, signing_key)
        text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False)
        with manifest_tmp.open("w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # An old manifest goes first: records without a manifest are refused as incomplete,
        # an old manifest next to new records would only fail later, on the hash.
        (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
        records_tmp.replace(out_dir / RECORDS_FILE)
        manifest_tmp.replace(out_dir / MANIFEST_FILE)
        _fsync_dir(out_dir)
    finally:
        records_tmp.unlink(missing_ok=True)
        manifest_tmp.unlink(missing_ok=True)
    return manifest


def read_manifest(pkg_dir: Path) -> Manifest:
    path = pkg_dir / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackageError(
            f"{path} is missing; the package is incomplete. Pseudonymise the extract again."
        ) from None
    except (OSError, UnicodeDecodeError):
        raise PackageError(f"{path} can not be read as UTF-8 JSON.") from None
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        # Locations only: a manifest holds no register data, but keep messages value-free.
        fields = sorted(
            {".".join(str(p) for p in error["loc"]) or "(root)" for error in exc.errors()}
        )
        raise PackageError(
            f"{path} is not a valid manifest (problems in: {', '.join(fields[:5])}). "
            "Pseudonymise the extract again."
        ) from None


def _records_path(pkg_dir: Path) -> Path:
    path = pkg_dir / RECORDS_FILE
    if not path.is_file():
        raise PackageError(f"{path} is missing; the package is incomplete.")
    return path


def verify_package(pkg_dir: Path, signing_public_pem: bytes) -> Manifest:
    """Check signature, records hash, encoding digest, row count and schema; return the manifest."""
    manifest = read_manifest(pkg_dir)
    verify_manifest(manifest, signing_public_pem)
    path = _records_path(pkg_dir)
    if _sha256(path) != manifest.records_sha256:
        raise PackageError(
            f"{path} does not match the SHA-256 in the manifest: it was changed or damaged "
            "after signing. Pseudonymise the extract again."
        )
    if manifest.encoding_digest != encoding_digest(manifest.encoding):
        raise PackageError("the manifest's encoding digest does not match its parameters.")
    try:
        rows = pq.read_metadata(path).num_rows
        schema = _schema_of(pl.read_parquet_schema(path))
    except Exception:  # pyarrow and polars raise several types for an unreadable file
        raise PackageError(f"{path} is not a readable Parquet file.") from None
    if rows != manifest.row_count:
        raise PackageError(f"{path} has {rows} rows; the manifest says {manifest.row_count}.")
    if schema != expected_schema(manifest.encoding):
        raise PackageError(
            f"{path} does not have the contract's columns and types; it was not written by "
            "this connector version."
        )
    return manifest


def describe_package(pkg_dir: Path) -> PackageSummary:
    """What the package would send, and any sign of readable personal data inside."""
    manifest = read_manifest(pkg_dir)
    path = _records_path(pkg_dir)
    try:
        metadata = pq.read_metadata(path)
        frame = pl.read_parquet(path)
    except Exception:  # pyarrow and polars raise several types for an unreadable file
        raise PackageError(f"{path} is not a readable Parquet file.") from None
    columns = _schema_of(frame.schema)
    findings = [*_metadata_findings(metadata.metadata or {})]
    findings.extend(_column_findings(frame, manifest.encoding))
    return PackageSummary(
        manifest=manifest,
        columns=columns,
        row_count=frame.height,
        plaintext_findings=tuple(findings),
    )


def _metadata_findings(metadata: dict[bytes, bytes]) -> list[str]:
    return [
        f"Parquet metadata key {key.decode('utf-8', 'replace')!r} is not expected in a package"
        for key in metadata
        if key not in _ALLOWED_METADATA
    ]


def _column_findings(frame: pl.DataFrame, encoding: EncodingParameters) -> list[str]:
    expected = dict(expected_schema(encoding))
    widths = {
        **{token_column(name): encoding.token_bytes for name in encoding.token_fields},
        **{BLOCK_PREFIX + name: encoding.block_bytes for name in encoding.blocking_keys},
        **{
            filter_column(spec.name, key): spec.length_bits // 8
            for spec in encoding.filters
            for key in encoding.blocking_keys
        },
    }
    sealed = {sealed_column(name) for name in encoding.sealed_fields}
    enums = {"contract_type": CONTRACT_TYPES}
    findings: list[str] = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if name not in expected:
            findings.append(f"column {name!r} is not a contract column")
        elif str(dtype) != expected[name]:
            findings.append(f"column {name!r} is {dtype}, the contract says {expected[name]}")
        elif name in widths:
            if column.drop_nulls().bin.size().ne(widths[name]).any():
                findings.append(f"column {name!r} has values that are not {widths[name]} bytes")
        elif name in sealed:
            if column.drop_nulls().bin.size().lt(_AES_GCM_OVERHEAD).any():
                findings.append(f"column {name!r} has values too short to be sealed")
        elif name == REF_COLUMN:
            if column.str.contains(_REF_PATTERN).fill_null(False).all():
                continue  # pure hex can not hold a name, and random hex can look like digits
            findings.append(f"column {name!r} has values that are not 32 hex digits")
        elif name in enums:
            unknown = column.drop_nulls().is_in(list(enums[name])).not_().sum()
            if unknown:
                findings.append(f"column {name!r} has {unknown} values outside the contract list")
        if dtype == pl.String:
            for what, pattern in _LEAK_PATTERNS.items():
                hits = column.str.contains(pattern).fill_null(False).sum()
                if hits:
                    findings.append(f"column {name!r}: {hits} values look like {what}")
    return findings
