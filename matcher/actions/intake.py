"""Verification of upload packages: what ``POST /v1/extracts`` checks, in order.

Manifest checks (:func:`check_manifest`) need only manifest.json and the database, so the
route runs them as soon as the manifest part has arrived, before the records part is streamed,
and again in the storing transaction. Records checks (:func:`check_records`) run on the
received file: its real rows and decoded size are measured batch by batch against the
company's limits (:mod:`matcher.store.extract_size`) before anything else reads it, because
the row count in the manifest and the Parquet footer is only what the writer claims. Every
rejection is one :class:`~matcher.errors.UploadRejected` whose message names what was wrong and
what to do, with company ids and column names but no record values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from pydantic import ValidationError
from sqlalchemy import Connection

from contract import (
    BLOCK_PREFIX,
    CONTRACT_COLUMNS,
    CONTRACT_VERSION,
    REF_COLUMN,
    REVEALABLE_FIELDS,
    TOKEN_FIELDS,
    EncodingParameters,
    Manifest,
    encoding_digest,
    sealed_column,
    token_column,
)
from matcher.crypto import verify_manifest_signature
from matcher.errors import (
    BadManifest,
    BadParquet,
    BadSignature,
    DataKeyReused,
    ExtractIdReused,
    ExtractTooLarge,
    ForeignCompany,
    FutureAsOf,
    IncomparableEncoding,
    IntegrityMismatch,
    ReplayedPackage,
    RevealKeyMismatch,
    SchemaMismatch,
    SigningKeyRevoked,
    UnknownCompany,
    UnsupportedContract,
)
from matcher.store.companies import Company, get_company, previous_keys
from matcher.store.extract_size import ExtractLimits, measure_records
from matcher.store.extracts import (
    Extract,
    active_extract,
    active_extracts,
    extract_with_data_key,
    get_extract,
)

__all__ = [
    "SUPPORTED_CONTRACT_VERSIONS",
    "IntakeBounds",
    "ManifestVerdict",
    "check_manifest",
    "check_records",
    "expected_columns",
    "parse_manifest",
]

SUPPORTED_CONTRACT_VERSIONS = frozenset({CONTRACT_VERSION})


@dataclass(frozen=True)
class ManifestVerdict:
    """A manifest that passed; ``duplicate`` is the stored extract when it is a re-upload."""

    manifest: Manifest
    duplicate: Extract | None


def _refuse_other_versions(raw: bytes) -> None:
    """Refuse a package of another contract version before validating it as this version's.

    A version-1 manifest does not validate as version 2 (other encoding parameters), and its
    filters leak names (issue 9), so the message names the cure instead of a schema error.
    """
    try:
        version = json.loads(raw).get("contract_version")
    except (ValueError, AttributeError):
        return  # not JSON or not an object: parse_manifest says what is wrong
    if version is not None and version not in SUPPORTED_CONTRACT_VERSIONS:
        raise UnsupportedContract(
            f"the package uses contract version {version}; this matcher accepts only "
            f"{sorted(SUPPORTED_CONTRACT_VERSIONS)}. Version 1 encodings are no longer accepted "
            "(their name filters can be decoded): upgrade the connector and make the extract "
            "again with `connector pseudonymise`"
        )


def parse_manifest(raw: bytes) -> Manifest:
    _refuse_other_versions(raw)
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        # Locations and messages only: the input could hold anything.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise BadManifest(
            f"manifest.json is not a valid manifest ({problems}); rebuild the package with "
            "`connector package`"
        ) from None
    if encoding_digest(manifest.encoding) != manifest.encoding_digest:
        raise BadManifest(
            "manifest.json: encoding_digest does not match its encoding parameters; "
            "rebuild the package with `connector package`"
        )
    _check_encoding_fields(manifest.encoding)
    return manifest


def _check_encoding_fields(encoding: EncodingParameters) -> None:
    unknown_tokens = sorted(set(encoding.token_fields) - set(TOKEN_FIELDS))
    unknown_sealed = sorted(set(encoding.sealed_fields) - set(REVEALABLE_FIELDS))
    if unknown_tokens or unknown_sealed:
        raise BadManifest(
            f"manifest.json names fields outside the contract (token fields {unknown_tokens}, "
            f"sealed fields {unknown_sealed}); expected token fields from {list(TOKEN_FIELDS)} "
            f"and sealed fields from {list(REVEALABLE_FIELDS)}"
        )


@dataclass(frozen=True)
class IntakeBounds:
    """What a package may claim: the company's limits, and now (today for the as-of date,
    the moment for a replaced signing key's overlap)."""

    limits: ExtractLimits
    now: datetime
    as_of_tolerance: timedelta = timedelta(days=1)

    @property
    def today(self) -> date:
        return self.now.date()


def check_manifest(
    conn: Connection,
    raw: bytes,
    uploader_company: str,
    reveal_fingerprint: str,
    bounds: IntakeBounds,
) -> ManifestVerdict:
    """Every check that needs only the manifest, in the documented order."""
    manifest = parse_manifest(raw)
    company_id = manifest.company_id
    if company_id != uploader_company:
        raise ForeignCompany(
            f"the package is for company {company_id} but your token belongs to company "
            f"{uploader_company}; upload with a data officer token of {company_id}"
        )
    company = get_company(conn, company_id)
    if company is None:
        raise UnknownCompany(
            f"company {company_id} is not registered at this matcher; ask the operator to run "
            f"`matcher companies add {company_id}`"
        )
    _check_signature(conn, company, manifest, bounds.now)
    if manifest.reveal_key_fingerprint != reveal_fingerprint:
        raise RevealKeyMismatch(
            f"the package is sealed to reveal key {manifest.reveal_key_fingerprint}, this "
            f"matcher's key is {reveal_fingerprint}; fetch the current key with `matcher keys "
            "reveal-public`, put it in the connector profile and package again"
        )
    if manifest.contract_version not in SUPPORTED_CONTRACT_VERSIONS:
        raise UnsupportedContract(
            f"contract version {manifest.contract_version} is not supported; this matcher "
            f"accepts {sorted(SUPPORTED_CONTRACT_VERSIONS)}: update the connector"
        )
    existing = get_extract(conn, str(manifest.extract_id), None)
    if existing is not None:
        if (
            existing.company_id == company_id
            and existing.records_sha256 == manifest.records_sha256
            and existing.status == "active"
        ):
            return ManifestVerdict(manifest, existing)
        if existing.company_id == company_id and existing.status == "superseded":
            raise ReplayedPackage(
                f"extract {manifest.extract_id} was superseded by a newer extract of company "
                f"{company_id}; a replayed old package is refused: package a new extract"
            )
        raise ExtractIdReused(
            f"extract id {manifest.extract_id} is already used for different records; "
            "every package needs a fresh extract id: package again"
        )
    for other in active_extracts(conn):
        if other.company_id == company_id:
            continue
        if other.matching_key_epoch != manifest.matching_key_epoch:
            raise IncomparableEncoding(
                f"matching-key epoch {manifest.matching_key_epoch} differs from the epoch "
                f"{other.matching_key_epoch} of company {other.company_id}'s current extract; "
                "all companies must use the same matching key epoch",
                other.company_id,
            )
        if other.encoding_digest != manifest.encoding_digest:
            raise IncomparableEncoding(
                f"encoding parameters (digest {manifest.encoding_digest}) differ from those of "
                f"company {other.company_id}'s current extract ({other.encoding_digest}); the "
                "tokens would not be comparable: use the shared connector settings",
                other.company_id,
            )
    _check_claims(manifest, bounds)
    reused = extract_with_data_key(conn, manifest.wrapped_data_key, str(manifest.extract_id))
    if reused is not None:
        # Two extracts under one data key: destroying one's key (retention) would not make
        # its sealed fields unreadable, and a reveal could open the other's ciphertexts.
        raise DataKeyReused(
            f"the manifest's wrapped data key is already used by extract {reused}; every "
            "extract needs a fresh data key: package the extract again with `connector "
            "pseudonymise` (do not copy manifest.json between packages)"
        )
    active = active_extract(conn, company_id)
    if active is not None and manifest.as_of < active.as_of:
        raise ReplayedPackage(
            f"the package is as of {manifest.as_of}, older than the active extract of company "
            f"{company_id} (as of {active.as_of}); a replayed old package is refused"
        )
    return ManifestVerdict(manifest, None)


def _check_claims(manifest: Manifest, bounds: IntakeBounds) -> None:
    latest = bounds.today + bounds.as_of_tolerance
    if manifest.as_of > latest:
        raise FutureAsOf(
            f"the package is as of {manifest.as_of}, after today ({bounds.today}, with a "
            f"tolerance of {bounds.as_of_tolerance.days} day(s)); a future as-of date would make "
            "every later package look older. Check the export's date and the clock of the "
            "connector's machine, and package again with the right `--as-of`"
        )
    if manifest.row_count > bounds.limits.max_rows:
        raise ExtractTooLarge(
            f"the manifest announces {manifest.row_count} rows; the limit for company "
            f"{manifest.company_id} is {bounds.limits.max_rows} rows (max_extract_rows); ask "
            "the operator to raise the limit if the register really is that large"
        )


def expected_columns(encoding: EncodingParameters) -> dict[str, str]:
    """The records.parquet columns (name -> polars dtype name) a manifest's encoding implies."""
    columns = {REF_COLUMN: "String"}
    columns.update({token_column(f): "Binary" for f in encoding.token_fields})
    columns.update({BLOCK_PREFIX + k: "Binary" for k in encoding.blocking_keys})
    columns.update({column: "Binary" for column in encoding.filter_columns()})
    columns.update(CONTRACT_COLUMNS)
    columns.update({sealed_column(f): "Binary" for f in encoding.sealed_fields})
    return columns


def check_records(path: Path, size_sha256: str, manifest: Manifest, limits: ExtractLimits) -> None:
    """Hash, real size, row count, readability and exact schema of the received records file."""
    if size_sha256 != manifest.records_sha256:
        raise IntegrityMismatch(
            f"records.parquet has SHA-256 {size_sha256}, the manifest says "
            f"{manifest.records_sha256}; the file was changed or cut off: upload the package "
            "again as written by the connector"
        )
    # Before polars plans anything on it: the real rows and decoded bytes, bounded.
    rows = measure_records(path, limits, manifest.company_id).rows
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # polars raises several types for a damaged file
        raise BadParquet(
            "records.parquet can not be read as Parquet; package the extract again"
        ) from exc
    if rows != manifest.row_count:
        raise IntegrityMismatch(
            f"records.parquet has {rows} rows, the manifest says {manifest.row_count}; "
            "package the extract again"
        )
    expected = expected_columns(manifest.encoding)
    actual = {name: str(dtype) for name, dtype in schema.items()}
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    wrong = sorted(
        f"{name} is {actual[name]}, expected {expected[name]}"
        for name in set(expected) & set(actual)
        if actual[name] != expected[name]
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        if wrong:
            parts.append("; ".join(wrong))
        raise SchemaMismatch(
            f"records.parquet does not have the contract's columns: {'; '.join(parts)}; "
            "package the extract with a connector of this contract version"
        )


def _check_signature(conn: Connection, company: Company, manifest: Manifest, now: datetime) -> None:
    """The current key, else a replaced key still in its rotation overlap; a package signed
    with a key revoked as compromised is refused as such."""
    try:
        verify_manifest_signature(company.signing_public_key, manifest)
        return
    except BadSignature as refused:
        first = refused
    for previous in previous_keys(conn, company.id):
        try:
            verify_manifest_signature(previous.public_key, manifest)
        except BadSignature:
            continue
        if previous.accepted(now):
            return
        if previous.revoked_at is not None:
            raise SigningKeyRevoked(
                f"the package is signed with a key of company {company.id} that was revoked "
                f"on {previous.revoked_at:%Y-%m-%d} as compromised; sign with the new key "
                "(the workspace's signing.key the operator registered) and package again"
            )
        raise BadSignature(
            f"the package is signed with company {company.id}'s previous key, which was "
            f"accepted until {previous.accepted_until:%Y-%m-%d %H:%M} UTC; package again "
            "with the new signing key"
        )
    raise first
