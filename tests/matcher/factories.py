"""Seeded builders for the matcher's tests: companies with signing keys and users, and small
upload packages (random tokens and filters matching the contract schema, optional planted
tenancies that share a national-id token). The connector's real builder is tested elsewhere."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import (
    BloomFilterSpec,
    EncodingParameters,
    Manifest,
    encoding_digest,
    signing_payload,
)
from matcher.actions.intake import expected_columns
from matcher.actions.runs import summary_of
from matcher.actions.worker import Worker
from matcher.settings import Settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ENCODING = EncodingParameters(
    blocking_keys=("name_birth", "postal_birth"),
    filters=(
        BloomFilterSpec(
            name="name",
            fields=("first_name", "last_name"),
            length_bits=128,
            q=2,
            hashes_per_qgram=2,
            hardening="none",
        ),
        BloomFilterSpec(
            name="birth_date",
            fields=("birth_date",),
            length_bits=64,
            q=2,
            hashes_per_qgram=2,
            hardening="none",
        ),
    ),
)


@dataclass(frozen=True)
class Tenancy:
    """A planted record: a shared national-id token makes it an exact-lane candidate."""

    national_token: bytes
    start: date
    end: date | None = None
    contract_type: str = "residential"


@dataclass
class Package:
    manifest: Manifest
    records: bytes
    frame: pl.DataFrame = field(repr=False)

    @property
    def manifest_bytes(self) -> bytes:
        return self.manifest.model_dump_json().encode()

    def files(self) -> dict[str, tuple[str, bytes, str]]:
        return {
            "manifest": ("manifest.json", self.manifest_bytes, "application/json"),
            "records": ("records.parquet", self.records, "application/octet-stream"),
        }


def records_frame(
    rng: random.Random, rows: int, planted: list[Tenancy], encoding: EncodingParameters
) -> pl.DataFrame:
    """Seeded random tokens and filters (nothing matches by chance) plus planted tenancies."""
    columns = expected_columns(encoding)
    n = rows + len(planted)
    data: dict[str, list[Any]] = {}
    widths = {f"filter_{s.name}": s.length_bits // 8 for s in encoding.filters}
    for name, dtype in columns.items():
        if name == "ref":
            data[name] = [rng.randbytes(16).hex() for _ in range(n)]
        elif dtype == "Binary":
            width = widths.get(name, 16 if name.startswith("block_") else 32)
            data[name] = [rng.randbytes(width) for _ in range(n)]
    data["contract_start"] = [date(2020, 1, 1)] * rows + [t.start for t in planted]
    data["contract_end"] = [date(2020, 6, 1)] * rows + [t.end for t in planted]
    data["contract_type"] = ["storage"] * rows + [t.contract_type for t in planted]
    for i, tenancy in enumerate(planted):
        data["token_national_id"][rows + i] = tenancy.national_token
    return pl.DataFrame(data, schema={k: getattr(pl, v) for k, v in columns.items()})


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@dataclass
class CompanyKit:
    """A registered company with its signing key and users' tokens."""

    id: str
    signing_key: Ed25519PrivateKey
    tokens: dict[str, str]

    def package(
        self,
        reveal_fingerprint: str,
        *,
        as_of: date = date(2026, 3, 1),
        rows: int = 20,
        planted: list[Tenancy] | None = None,
        seed: int = 1,
        epoch: str = "epoch-1",
        encoding: EncodingParameters = ENCODING,
        frame: pl.DataFrame | None = None,
        company_id: str | None = None,
    ) -> Package:
        rng = random.Random(f"{self.id}-{seed}")
        if frame is None:
            frame = records_frame(rng, rows, planted or [], encoding)
        records = parquet_bytes(frame)
        unsigned = Manifest(
            company_id=company_id or self.id,
            extract_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            as_of=as_of,
            created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            matching_key_epoch=epoch,
            reveal_key_fingerprint=reveal_fingerprint,
            encoding=encoding,
            encoding_digest=encoding_digest(encoding),
            row_count=frame.height,
            records_sha256=hashlib.sha256(records).hexdigest(),
            wrapped_data_key=base64.b64encode(rng.randbytes(80)).decode(),
        )
        return Package(self.sign(unsigned), records, frame)

    def sign(self, manifest: Manifest) -> Manifest:
        signature = self.signing_key.sign(signing_payload(manifest))
        return manifest.model_copy(update={"signature": base64.b64encode(signature).decode()})


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class World:
    settings: Settings
    admin_token: str
    reveal_fingerprint: str
    companies: dict[str, CompanyKit]
    auditor_token: str


def constant_records(encoding: EncodingParameters, rows: int, group_rows: int = 1_000_000) -> bytes:
    """A records.parquet of ``rows`` identical rows with the contract's exact schema, written
    row group by row group from dictionary-encoded columns: 20 million rows take ~1 MB on
    disk and a few hundred MB of test memory at most. What a hostile uploader sends."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = expected_columns(encoding)
    arrow_types = {"String": pa.string(), "Binary": pa.binary(), "Date": pa.date32()}
    values: dict[str, Any] = {
        "ref": "0" * 32,
        "contract_start": date(2020, 1, 1),
        "contract_end": date(2020, 6, 1),
        "contract_type": "residential",
        "tenant_role": "primary",
        "sublet_approved": None,
    }
    group = min(rows, group_rows)
    indices = pa.array(np.zeros(group, dtype=np.int32))

    def column(name: str, dtype: str, n: int) -> pa.Array:
        if name == "sublet_approved":
            return pa.nulls(n, pa.bool_())
        value = values.get(name, b"\x5a" * 32)
        dictionary = pa.array([value], arrow_types.get(dtype, pa.string()))
        return pa.DictionaryArray.from_arrays(indices[:n], dictionary)

    def batch(n: int) -> pa.Table:
        return pa.table({name: column(name, dtype, n) for name, dtype in columns.items()})

    buffer = io.BytesIO()
    schema = batch(1).schema
    with pq.ParquetWriter(buffer, schema, compression="zstd", store_schema=False) as writer:
        left = rows
        while left:
            n = min(left, group)
            writer.write_table(batch(n), row_group_size=n)
            left -= n
    return buffer.getvalue()


def package_of(
    kit: CompanyKit,
    reveal_fingerprint: str,
    records: bytes,
    row_count: int,
    *,
    as_of: date = date(2026, 3, 1),
    seed: int = 1,
    wrapped_data_key: str | None = None,
    encoding: EncodingParameters = ENCODING,
) -> Package:
    """A correctly signed package around ``records`` (any bytes), claiming ``row_count``."""
    rng = random.Random(f"{kit.id}-raw-{seed}")
    unsigned = Manifest(
        company_id=kit.id,
        extract_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        as_of=as_of,
        created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        matching_key_epoch="epoch-1",
        reveal_key_fingerprint=reveal_fingerprint,
        encoding=encoding,
        encoding_digest=encoding_digest(encoding),
        row_count=row_count,
        records_sha256=hashlib.sha256(records).hexdigest(),
        wrapped_data_key=wrapped_data_key or base64.b64encode(rng.randbytes(80)).decode(),
    )
    return Package(kit.sign(unsigned), records, pl.DataFrame())


def run_to_end(client: Any, token: str, run_date: str | None = None) -> dict[str, Any]:
    """``POST /v1/runs`` (202, queued), then the run as ``GET /v1/runs/{id}`` shows it once it
    ended (without writing ``run.read`` entries while waiting)."""
    body = {} if run_date is None else {"run_date": run_date}
    response = client.post("/v1/runs", json=body, headers=auth(token))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    run_id = response.json()["id"]
    if not hasattr(client, "app"):  # a served matcher (httpx): its own worker works the run
        return _poll_served(client, token, run_id)
    return wait_for_run(client, run_id)


def _poll_served(client: Any, token: str, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = client.get(f"/v1/runs/{run_id}", headers=auth(token)).json()
        if shown["status"] in ("succeeded", "failed"):
            return shown
        assert time.monotonic() < deadline, f"run {run_id} is still {shown['status']}"
        time.sleep(0.1)


def wait_for_run(client: Any, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Wait for ``run_id`` to end: the app's background worker works it when the client runs
    the app's lifespan, else this helper's own worker does (the lease decides)."""
    from pydantic import TypeAdapter

    from matcher.actions.runs import RunSummary

    state = client.app.state.matcher
    worker = Worker(state.engine, state.settings, name=f"test-helper-{uuid.uuid4().hex[:6]}")
    deadline = time.monotonic() + timeout
    try:
        while (summary := summary_of(state.engine, run_id)).status not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"run {run_id} is still {summary.status}"
            worker.run_all()
            time.sleep(0.05)
    finally:
        worker.stop()
    dumped: dict[str, Any] = TypeAdapter(RunSummary).dump_python(summary, mode="json")
    return dumped
