"""Builders for the reveal workflow tests: packages whose sealed fields are REAL AES-256-GCM
under a data key HPKE-wrapped to the matcher's reveal key (sealed and wrapped by the connector's
own functions), an activated policy, one run, and a clock the tests move."""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.pseudonymise import seal, wrap_data_key
from contract import SEALED_FIELDS, Manifest, encoding_digest, sealed_column
from matcher.actions.policies import activate_in
from matcher.actions.runs import SHIPPED_POLICY
from matcher.api.routes.reveal import clock
from matcher.core.audit import AuditEntry
from matcher.store.audit import EntryFilter, entries, system_actor
from matcher.store.database import utcnow
from matcher.store.users import add_user
from tests.matcher.factories import (
    ENCODING,
    CompanyKit,
    Package,
    Tenancy,
    World,
    auth,
    parquet_bytes,
    records_frame,
    run_to_end,
)

# The app's clock starts at the real time: uploads and runs stamp rows with the real clock,
# and retention compares both. Tests move it forward only.
START = utcnow()
RUN_DATE = date(2026, 3, 1)

# The planted person's plaintext at each company (what a disclosure must show, and only this).
PERSON: dict[str, dict[str, str]] = {
    "a": {
        "national_id": "198112189876",
        "first_name": "Anna",
        "last_name": "Lindqvist",
        "birth_date": "1981-12-18",
        "street_address": "Storgatan 1",
        "postal_code": "58222",
        "city": "Linköping",
        "apartment_number": "1102",
        "contract_id": "LB-1001",
        "phone": "+46701234567",
        "email": "anna@example.se",
    },
    "b": {
        "national_id": "198112189876",
        "first_name": "Anna",
        "last_name": "Lindqvist-Berg",
        "birth_date": "1981-12-18",
        "street_address": "Drottninggatan 9",
        "postal_code": "60224",
        "city": "Norrköping",
        "apartment_number": "1201",
        "contract_id": "HN-77",
        "phone": "+46707654321",
        "email": "anna.b@example.se",
    },
}
PERSON_TOKEN = random.Random("reveal-person").randbytes(32)
STARTS = {"a": date(2019, 1, 1), "b": date(2021, 6, 1)}


class Clock:
    """The time the app decides at; tests move it forward."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def sealed_package(
    kit: CompanyKit,
    reveal_fingerprint: str,
    reveal_public_pem: bytes,
    *,
    seed: int = 1,
    rows: int = 6,
    person: bool = True,
    as_of: date = date(2026, 3, 1),
) -> Package:
    """A package whose sealed columns open with the matcher's private key. The planted person
    (when ``person``) is the last row; the other rows get filler values."""
    rng = random.Random(f"sealed-{kit.id}-{seed}")
    planted = [Tenancy(PERSON_TOKEN, STARTS[kit.id])] if person else []
    frame = records_frame(rng, rows, planted, ENCODING)
    extract_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    data_key = rng.randbytes(32)
    refs = frame["ref"].to_list()
    columns = []
    for field_index, name in enumerate(SEALED_FIELDS):
        blobs: list[bytes | None] = []
        for row, ref in enumerate(refs):
            if person and row == len(refs) - 1:
                value: str | None = PERSON[kit.id].get(name)
            else:
                value = f"filler-{name}-{row}" if name != "phone" else None
            nonce = struct.pack(">QI", row, field_index)
            blobs.append(
                None if value is None else seal(data_key, extract_id, ref, name, value, nonce)
            )
        columns.append(pl.Series(sealed_column(name), blobs, dtype=pl.Binary))
    frame = frame.with_columns(columns)
    records = parquet_bytes(frame)
    manifest = Manifest(
        company_id=kit.id,
        extract_id=extract_id,
        as_of=as_of,
        created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        matching_key_epoch="epoch-1",
        reveal_key_fingerprint=reveal_fingerprint,
        encoding=ENCODING,
        encoding_digest=encoding_digest(ENCODING),
        row_count=frame.height,
        records_sha256=hashlib.sha256(records).hexdigest(),
        wrapped_data_key=wrap_data_key(data_key, reveal_public_pem, kit.id, extract_id),
    )
    return Package(kit.sign(manifest), records, frame)


def policy_text(**changes: str) -> bytes:
    """The shipped policy, with some `key = value` lines replaced (and a test version)."""
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    text = text.replace('version = "1.0.0"', 'version = "1.0.0-test"')
    for key, value in changes.items():
        lines = text.splitlines()
        hits = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
        assert len(hits) == 1, key
        lines[hits[0]] = f"{key} = {value}"
        text = "\n".join(lines) + "\n"
    return text.encode("utf-8")


@dataclass
class RevealWorld:
    """Companies a, b (c: not in the hit), the hit between a and b, and helpers."""

    client: TestClient
    world: World
    engine: Engine
    clock: Clock
    hit_id: int
    packages: dict[str, Package]
    extra_tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        """``investigator-a``, ``approver-b``, ``approver2-b``, ``admin``, ``auditor``."""
        if name == "admin":
            return self.world.admin_token
        if name == "auditor":
            return self.world.auditor_token
        if name in self.extra_tokens:
            return self.extra_tokens[name]
        role, company = name.rsplit("-", 1)
        return self.world.companies[company].tokens[role]

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=auth(self.token(who)), **kwargs)

    def request(self, who: str = "investigator-a", **body: Any) -> Any:
        payload = {
            "purpose": "check concurrent first-hand contracts",
            "case_reference": "CASE-2026-0042",
            "justification": "Two first-hand contracts overlap for years; we must check the "
            "tenancy before the rent review.",
            **body,
        }
        return self.call("POST", f"/v1/hits/{self.hit_id}/reveal-requests", who, json=payload)

    def decide(self, request_id: str, who: str, kind: str = "approve") -> Any:
        return self.call(
            "POST",
            f"/v1/reveal-requests/{request_id}/{kind}",
            who,
            json={"reason": "the justification matches the case"},
        )

    def disclosure(self, request_id: str, who: str = "investigator-a") -> Any:
        return self.call("GET", f"/v1/reveal-requests/{request_id}/disclosure", who)

    def log(self, action: str | None = None) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            return entries(conn, EntryFilter(action=action), limit=100_000).items


def build_reveal_world(
    client: TestClient,
    world_factory: Any,
    engine: Engine,
    policy: bytes | None = None,
    extra_users: tuple[tuple[str, str, str], ...] = (),
) -> RevealWorld:
    """Register a, b, c; activate ``policy`` (default: the shipped one); upload sealed packages
    for a and b that share one person; run; return the world with the hit's id."""
    w: World = world_factory()
    ticking = Clock()
    client.app.dependency_overrides[clock] = ticking  # type: ignore[attr-defined]
    extra: dict[str, str] = {}
    with engine.begin() as conn:
        activate_in(
            conn,
            policy or SHIPPED_POLICY.read_bytes(),
            system_actor("test"),
            START - timedelta(days=1),
        )
        for name, role, company in extra_users:
            extra[name] = add_user(conn, name, role, company)[1]
    public_pem = w.settings.reveal_public_key_path.read_bytes()
    packages = {}
    for cid in ("a", "b"):
        kit = w.companies[cid]
        package = sealed_package(kit, w.reveal_fingerprint, public_pem)
        response = client.post(
            "/v1/extracts", files=package.files(), headers=auth(kit.tokens["data_officer"])
        )
        assert response.status_code == 201, response.text
        packages[cid] = package
    assert run_to_end(client, w.admin_token, RUN_DATE.isoformat())["status"] == "succeeded"
    hits = client.get("/v1/hits", headers=auth(w.companies["a"].tokens["investigator"])).json()
    [hit] = hits["items"]
    return RevealWorld(client, w, engine, ticking, hit["id"], packages, extra)
