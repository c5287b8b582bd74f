"""Tests of connectors.package: writing, verifying and describing an upload package."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import polars as pl
import pyarrow.parquet as pq
import pytest

from connectors import package as pkg
from connectors import pseudonymise as ps
from connectors.errors import PackageError
from connectors.record import NORMALISED_COLUMNS
from contract import (
    MANIFEST_FILE,
    RECORDS_FILE,
    Manifest,
    encoding_digest,
    pem_fingerprint,
)

EXTRACT = UUID("12345678-1234-5678-1234-567812345678")


@dataclass(frozen=True)
class Keys:
    signing: ps.SigningKey
    signing_public: bytes
    reveal_public: bytes
    encoder: ps.Encoder


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    private_pem, public_pem = ps.new_signing_key()
    ps.write_secret_file(tmp_path / "sign.pem", private_pem)
    _, reveal_public = ps.new_reveal_key_pair()
    encoder = ps.Encoder(ps.new_matching_key(lambda n: bytes(n)), bytes(range(32)))
    return Keys(ps.load_signing_key(tmp_path / "sign.pem"), public_pem, reveal_public, encoder)


def _rows(n: int) -> pl.DataFrame:
    schema = {name: getattr(pl, dtype) for name, dtype in NORMALISED_COLUMNS.items()}
    rows = [
        {
            "row": i + 2,
            "record_id": f"R-{i}",
            "national_id": f"19850101{i:04d}",
            "birth_date": date(1985, 1, 1 + i % 28),
            "first_name": "Åsa",
            "last_name": "Öberg",
            "first_name_key": "asa",
            "last_name_key": "oberg",
            "street_address": "Storgatan 12",
            "street_name_key": "storgatan",
            "street_number": "12",
            "postal_code": "58183",
            "contract_start": date(2020, 1, 1),
            "contract_type": "residential",
            "phone": f"+4670123{i:04d}",
            "email": f"asa{i}@example.se",
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=schema)


@pytest.fixture
def write(keys: Keys) -> Callable[[Path], Manifest]:
    def do(out_dir: Path, rows: int = 5) -> Manifest:
        data_key = ps.new_data_key()
        records = keys.encoder.encode(_rows(rows), EXTRACT, data_key)
        return pkg.write_package(
            out_dir,
            records,
            company_id="bostad-ab",
            extract_id=EXTRACT,
            as_of=date(2024, 6, 1),
            created_at=datetime(2024, 6, 1, 12, tzinfo=UTC),
            matching_key_epoch="mk-000000000000",
            encoding=keys.encoder.parameters,
            reveal_public_pem=keys.reveal_public,
            wrapped_data_key=ps.wrap_data_key(data_key, keys.reveal_public, "bostad-ab", EXTRACT),
            signing_key=keys.signing,
        )

    return do


def test_written_package_verifies_and_the_manifest_describes_it(
    tmp_path: Path, keys: Keys, write: Callable[..., Manifest]
) -> None:
    manifest = write(tmp_path / "pkg", rows=7)
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == [MANIFEST_FILE, RECORDS_FILE]
    assert pkg.verify_package(tmp_path / "pkg", keys.signing_public) == manifest
    assert manifest.row_count == 7
    assert manifest.reveal_key_fingerprint == pem_fingerprint(keys.reveal_public)
    assert manifest.reveal_kem == "X25519"
    assert manifest.encoding_digest == encoding_digest(keys.encoder.parameters)
    text = (tmp_path / "pkg" / MANIFEST_FILE).read_text()
    assert text.startswith("{\n  ")  # pretty-printed for the data officer
    assert pkg.read_manifest(tmp_path / "pkg") == manifest


def test_a_changed_byte_in_records_fails_verification(
    tmp_path: Path, keys: Keys, write: Callable[..., Manifest]
) -> None:
    write(tmp_path / "pkg")
    path = tmp_path / "pkg" / RECORDS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(PackageError, match="SHA-256"):
        pkg.verify_package(tmp_path / "pkg", keys.signing_public)


def test_a_changed_manifest_fails_verification(
    tmp_path: Path, keys: Keys, write: Callable[..., Manifest]
) -> None:
    write(tmp_path / "pkg")
    path = tmp_path / "pkg" / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["row_count"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(PackageError, match="signature"):
        pkg.verify_package(tmp_path / "pkg", keys.signing_public)
    with pytest.raises(PackageError, match="signature"):
        write(tmp_path / "other")
        pkg.verify_package(tmp_path / "other", ps.new_signing_key()[1])


def test_missing_or_malformed_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="missing"):
        pkg.read_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text('{"company_id": "x"}')
    with pytest.raises(PackageError, match="not a valid manifest"):
        pkg.read_manifest(tmp_path)


def test_refuses_a_folder_with_other_files_but_replaces_a_previous_package(
    tmp_path: Path, keys: Keys, write: Callable[..., Manifest]
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "tenants.xlsx").write_bytes(b"x")
    with pytest.raises(PackageError, match="other files"):
        write(tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["tenants.xlsx"]
    write(tmp_path / "pkg", rows=3)
    second = write(tmp_path / "pkg", rows=4)
    assert pkg.verify_package(tmp_path / "pkg", keys.signing_public) == second


def test_a_failure_while_writing_leaves_no_half_package(
    tmp_path: Path, write: Callable[..., Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pkg, "sign_manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path / "pkg")
    assert list((tmp_path / "pkg").iterdir()) == []


def test_records_with_the_wrong_schema_are_not_written(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(PackageError, match="contract's columns"):
        pkg.write_package(
            tmp_path / "pkg",
            pl.DataFrame({"national_id": ["198501011234"]}),
            company_id="bostad-ab",
            extract_id=EXTRACT,
            as_of=date(2024, 6, 1),
            created_at=datetime(2024, 6, 1, tzinfo=UTC),
            matching_key_epoch="mk-000000000000",
            encoding=keys.encoder.parameters,
            reveal_public_pem=keys.reveal_public,
            wrapped_data_key="AAAA",
            signing_key=keys.signing,
        )
    assert not (tmp_path / "pkg").exists() or not any((tmp_path / "pkg").iterdir())


def test_describe_finds_nothing_readable_in_a_real_package(
    tmp_path: Path, write: Callable[..., Manifest]
) -> None:
    manifest = write(tmp_path / "pkg", rows=6)
    summary = pkg.describe_package(tmp_path / "pkg")
    assert summary.plaintext_findings == ()
    assert summary.row_count == 6
    assert summary.manifest == manifest
    assert summary.columns == pkg.expected_schema(manifest.encoding)


def test_describe_reports_plaintext_and_foreign_columns(
    tmp_path: Path, write: Callable[..., Manifest]
) -> None:
    write(tmp_path / "pkg")
    path = tmp_path / "pkg" / RECORDS_FILE
    records = pl.read_parquet(path)
    leaked = records.with_columns(
        contract_type=pl.lit("198501011234"),
        contract_start=pl.lit("asa@example.se"),
        ref=pl.lit("Åsa Öberg"),
        nationality=pl.lit("SE"),
        filter_name__dob_first=pl.lit(b"\x00" * 3),
    )
    leaked.write_parquet(path)
    findings = "\n".join(pkg.describe_package(tmp_path / "pkg").plaintext_findings)
    assert "'nationality' is not a contract column" in findings
    assert "'contract_type': 5 values look like a personnummer" in findings
    assert "'contract_start' is String, the contract says Date" in findings
    assert "'ref' has values that are not 32 hex digits" in findings
    assert "'filter_name__dob_first' has values that are not 128 bytes" in findings
    # Findings name columns and counts, never the values themselves.
    assert "198501011234" not in findings and "Öberg" not in findings


def test_records_carry_no_column_statistics(tmp_path: Path, write: Callable[..., Manifest]) -> None:
    write(tmp_path / "pkg", rows=4)
    metadata = pq.read_metadata(tmp_path / "pkg" / RECORDS_FILE)
    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(column)
            # min/max statistics would put values of the ref and contract columns in the footer
            assert chunk.statistics is None or not chunk.statistics.has_min_max
            assert chunk.compression == "LZ4"
