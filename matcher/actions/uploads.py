"""Receiving an upload package: the manifest verdict, storing a verified package, and the
entries of a retry or a refusal.

The API route (:mod:`matcher.api.routes.extracts`) only streams the multipart body: it asks for
:func:`verify_manifest` as soon as the manifest part has arrived (so a package that will be
refused is refused before its records are read), then hands the received records file to
:func:`store_package`. Storing checks the manifest again inside the transaction that stores,
because another upload of the same company may have landed in between; the blob is moved into
place first and removed again when the transaction does not commit, so nothing half-stored
stays. Each step opens its own transaction: the records file is checked between them and may
take minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from contract import Manifest
from matcher.actions import extracts
from matcher.actions.intake import IntakeBounds, ManifestVerdict, check_manifest, check_records
from matcher.actions.principal import Principal
from matcher.errors import ConflictError, MatcherError
from matcher.settings import Settings
from matcher.store.blobs import BlobStore, PendingBlob
from matcher.store.extracts import Extract, NewExtract
from matcher.store.tables import extracts as extracts_table

__all__ = ["Intake", "note_duplicate", "note_rejection", "store_package", "verify_manifest"]


@dataclass(frozen=True)
class Intake:
    """What receiving a package needs of the running service."""

    engine: Engine
    blobs: BlobStore
    settings: Settings
    reveal_key_fingerprint: str

    def bounds(self, company: str, now: datetime) -> IntakeBounds:
        return IntakeBounds(
            limits=self.settings.extract_limits(company),
            now=now,
            as_of_tolerance=timedelta(days=self.settings.as_of_tolerance_days),
        )


def verify_manifest(intake: Intake, raw: bytes, company: str, now: datetime) -> ManifestVerdict:
    """The manifest checks (raises the refusal); a verdict naming the stored extract when the
    same package is already stored."""
    with intake.engine.connect() as conn:
        return check_manifest(
            conn, raw, company, intake.reveal_key_fingerprint, intake.bounds(company, now)
        )


def store_package(
    intake: Intake, who: Principal, raw: bytes, records: PendingBlob, now: datetime
) -> tuple[Extract, bool]:
    """Check the records, move the blob into place and store the extract with its
    ``upload.accept``; returns the extract and whether it is new (False: identical retry)."""
    company = who.own_company()
    verdict = verify_manifest(intake, raw, company, now)
    if verdict.duplicate is not None:
        records.discard()
        return verdict.duplicate, False
    manifest: Manifest = verdict.manifest
    records.finish()
    check_records(records.path, records.sha256, manifest, intake.settings.extract_limits(company))
    size = records.size
    key = intake.blobs.commit(records)
    try:
        with intake.engine.begin() as conn:
            verdict = check_manifest(
                conn, raw, company, intake.reveal_key_fingerprint, intake.bounds(company, now)
            )
            if verdict.duplicate is not None:
                return verdict.duplicate, False
            stored = extracts.accept_upload(conn, who, _new_extract(manifest, who, size, key), now)
        return stored, True
    except BaseException as exc:
        _drop_unreferenced_blob(intake, key)
        if isinstance(exc, IntegrityError):
            raise ConflictError(
                f"another upload for company {company} was stored at the same time; "
                "upload again (an identical package is a no-op)"
            ) from exc
        raise


def _new_extract(manifest: Manifest, who: Principal, size: int, key: str) -> NewExtract:
    return NewExtract(
        id=str(manifest.extract_id),
        company_id=who.own_company(),
        as_of=manifest.as_of,
        uploaded_by=who.user_id,
        row_count=manifest.row_count,
        size_bytes=size,
        records_sha256=key,
        blob_key=key,
        manifest=manifest.model_dump(mode="json"),
        contract_version=manifest.contract_version,
        encoding_digest=manifest.encoding_digest,
        matching_key_epoch=manifest.matching_key_epoch,
        reveal_key_fingerprint=manifest.reveal_key_fingerprint,
        wrapped_data_key=manifest.wrapped_data_key,
    )


def _drop_unreferenced_blob(intake: Intake, key: str) -> None:
    with intake.engine.connect() as conn:
        used = conn.execute(
            select(extracts_table.c.id).where(extracts_table.c.blob_key == key).limit(1)
        ).first()
    if used is None:
        intake.blobs.delete(key)


def note_duplicate(intake: Intake, who: Principal, extract: Extract, now: datetime) -> None:
    """An identical package again: its ``upload.accept`` (identical_package), own transaction."""
    with intake.engine.begin() as conn:
        extracts.record_duplicate(conn, who, extract, now)


def note_rejection(intake: Intake, who: Principal, error: MatcherError, now: datetime) -> None:
    """A refused package's ``upload.reject``, alone in its transaction (nothing else stays)."""
    with intake.engine.begin() as conn:
        extracts.record_rejection(conn, who, error, now)
