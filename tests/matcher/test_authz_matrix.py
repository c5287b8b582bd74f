"""The authorization matrix: every API endpoint x role x own/other company -> expected status,
from ``authz_matrix.csv``; each call, allowed or refused, must leave an audit entry naming the
caller (``anonymous`` without a token) with the matching result.

CSV columns: ``method,path,role,company_relation,expected_status``. ``role`` is one of the
matcher's roles or ``anonymous`` (no token). The world is ``reveal_kit.build_reveal_world``:
companies a, b, c, one hit between a and b. ``company_relation`` ``own`` means the caller works
at company ``a`` (in the hit; its extract), ``other`` at company ``c`` (not in the hit), ``none``
a role without a company. Path placeholders are filled in ``_path``, bodies in ``_body``.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select

from contract import tlog
from matcher.actions.runs import SHIPPED_POLICY
from matcher.store import audit
from matcher.store.cursors import encode_cursor
from matcher.store.database import utcnow
from matcher.store.runs import create_run, fail_run
from matcher.store.sessions import open_session
from matcher.store.tables import denied_tallies, extracts, runs, users
from matcher.store.tokens import add_token
from tests.matcher.factories import World, auth, public_pem
from tests.matcher.reveal_kit import RUN_DATE, RevealWorld, build_reveal_world

MATRIX = Path(__file__).with_name("authz_matrix.csv")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    role: str
    relation: str
    expected: int

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.role} {self.relation}"


def _rows() -> list[Row]:
    with MATRIX.open(newline="", encoding="utf-8") as source:
        return [
            Row(r["method"], r["path"], r["role"], r["company_relation"], int(r["expected_status"]))
            for r in csv.DictReader(source)
        ]


ROWS = _rows()


def _token(w: World, row: Row) -> str | None:
    if row.role == "anonymous":
        return None
    if row.role == "admin":
        return w.admin_token
    if row.role == "auditor":
        return w.auditor_token
    return w.companies["c" if row.relation == "other" else "a"].tokens[row.role]


def _user_name(role: str, relation: str) -> str | None:
    if role == "anonymous":
        return None
    if role in ("admin", "auditor"):
        return role
    return f"{role}-{'c' if relation == 'other' else 'a'}"


@dataclass(frozen=True)
class Objects:
    rw: RevealWorld
    extract_a: str
    run_id: str
    failed_run: str  # a run that failed: only such a run can be retried
    request_a: str  # filed by investigator-a, approved by approver-b (disclosure readable)
    request_b: str  # filed by investigator-b, pending: approver-a may decide it
    cosignature: dict[str, Any]  # a valid cosignature by company a's registered witness
    session_id: int  # an open web session of the auditor
    token_id: int  # a machine token of the auditor


def _build(client: TestClient, w_factory: Callable[..., World], engine: Engine) -> Objects:
    rw = build_reveal_world(client, w_factory, engine)
    request_a = rw.request().json()["id"]
    assert rw.decide(request_a, "approver-b").status_code == 200
    request_b = rw.request(who="investigator-b").json()["id"]
    with engine.connect() as conn:
        extract_a = conn.execute(
            select(extracts.c.id).where(extracts.c.company_id == "a")
        ).scalar_one()
        run_id = conn.execute(select(runs.c.id)).scalar_one()
    with engine.begin() as conn:
        failed = create_run(
            conn, "run-failed", RUN_DATE, "concurrent-tenancy", "1", "sha256:x", {}, "admin"
        )
        fail_run(conn, failed.id, "interrupted: the worker stopped during the run")
        auditor = conn.execute(select(users.c.id).where(users.c.name == "auditor")).scalar_one()
        _, session = open_session(conn, auditor, "en", "csrf", utcnow())
        token, _secret = add_token(conn, auditor, "matrix", utcnow(), utcnow() + timedelta(days=9))
    return Objects(
        rw,
        extract_a,
        run_id,
        failed.id,
        request_a,
        request_b,
        _witness(client, rw.world),
        session.id,
        token.id,
    )


WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(random.Random("matrix-witness").randbytes(32))


def _witness(client: TestClient, w: World) -> dict[str, Any]:
    """Register company a's witness, cosign the newest checkpoint once (so a cosigned one
    exists) and return that cosignature as a request body."""
    registered = client.post(
        "/v1/companies/a/witnesses",
        json={"name": "witness.a.example/w1", "public_key": public_pem(WITNESS_KEY)},
        headers=auth(w.admin_token),
    )
    assert registered.status_code == 201, registered.text
    officer = auth(w.companies["a"].tokens["data_officer"])
    view = client.get("/v1/witness/checkpoint", headers=officer).json()
    note = tlog.parse_note(view["checkpoint"])
    line = tlog.cosign(note.text, "witness.a.example/w1", WITNESS_KEY, 1_780_000_000).line()
    body = {"size": view["to_size"], "cosignature": line}
    assert client.post("/v1/witness/cosignatures", json=body, headers=officer).status_code == 201
    return body


def _path(row: Row, objects: Objects) -> str:
    return row.path.format(
        name="auditor",
        extract_id=objects.extract_a,
        run_id=objects.failed_run if row.path.endswith("/retry") else objects.run_id,
        hit_id=objects.rw.hit_id,
        policy_id="concurrent-tenancy",
        company_id="a",
        request_id=objects.request_b if row.role == "approver" else objects.request_a,
        session_id=objects.session_id,
        token_id=objects.token_id,
    )


def _body(row: Row, objects: Objects) -> dict[str, Any]:
    w = objects.rw.world
    key = (row.method, row.path.split("?")[0])
    if key == ("POST", "/v1/companies"):
        seed = random.Random("matrix-newco").randbytes(32)
        pem = public_pem(Ed25519PrivateKey.from_private_bytes(seed))
        return {"json": {"id": "newco", "name": "New Co", "signing_public_key": pem}}
    if key == ("POST", "/v1/users"):
        return {"json": {"name": "new-user", "role": "auditor"}}
    if key == ("POST", "/v1/extracts"):
        # The caller's own company's package; for "other" the caller works at c.
        package = w.companies["a"].package(w.reveal_fingerprint, rows=2, seed=2)
        return {"files": package.files()}
    if key == ("POST", "/v1/runs"):
        return {"json": {"run_date": "2026-03-01"}}
    if key == ("POST", "/v1/policies"):
        return {"content": SHIPPED_POLICY.read_bytes()}
    if key == ("POST", "/v1/hits/{hit_id}/reveal-requests"):
        return {
            "json": {
                "purpose": "check concurrent first-hand contracts",
                "case_reference": "CASE-2026-0099",
                "justification": "Two first-hand contracts overlap for years; the tenancy "
                "must be checked before the rent review.",
            }
        }
    if key[1].endswith(("/approve", "/deny")):
        return {"json": {"reason": "the justification matches the case"}}
    if key == ("POST", "/v1/witness/cosignatures"):
        return {"json": objects.cosignature}
    if key == ("POST", "/v1/companies/{company_id}/signing-key"):
        seed = random.Random("matrix-rekey").randbytes(32)
        pem = public_pem(Ed25519PrivateKey.from_private_bytes(seed))
        return {"json": {"signing_public_key": pem, "overlap_days": 7}}
    if key == ("POST", "/v1/companies/{company_id}/witnesses"):
        seed = random.Random("matrix-witness-2").randbytes(32)
        pem = public_pem(Ed25519PrivateKey.from_private_bytes(seed))
        return {"json": {"name": "witness.a.example/w2", "public_key": pem}}
    if key == ("POST", "/v1/users/{name}/tokens"):
        return {"json": {"name": "nightly upload", "days": 30}}
    if key == ("POST", "/v1/hits/{hit_id}/outcome"):
        return {"json": {"outcome": "data_error", "note": "register corrected"}}
    return {}


def test_the_matrix_covers_every_api_endpoint(client: TestClient) -> None:
    listed = {(r.method, r.path.split("?")[0]) for r in ROWS}
    # The OpenAPI document lists every API operation, however the routers are mounted.
    schema = client.app.openapi()  # type: ignore[attr-defined]
    exposed = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert exposed - listed == set(), "endpoints without rows in authz_matrix.csv"
    assert listed - exposed == set(), "rows for endpoints the app does not have"
    roles = {(r.method, r.path, r.role) for r in ROWS}
    for method, path in listed:
        roles_ = ("anonymous", "admin", "auditor", "data_officer", "investigator", "approver")
        for role in (*roles_, "company_admin"):
            assert any((method, p, role) in roles for p in _paths(method, path)), (method, path)


def _paths(method: str, path: str) -> list[str]:
    return [r.path for r in ROWS if r.method == method and r.path.split("?")[0] == path]


def _groups() -> dict[str, list[Row]]:
    """Rows per endpoint, refusals first: an allowed call may change the world (revoke a user,
    retire the policy), and the refusals must be checked against the world as built."""
    groups: dict[str, list[Row]] = {}
    for row in ROWS:
        groups.setdefault(f"{row.method} {row.path}", []).append(row)
    return {k: sorted(v, key=lambda r: r.expected < 400) for k, v in groups.items()}


GROUPS = _groups()


@pytest.mark.parametrize("endpoint", list(GROUPS))
def test_matrix(
    endpoint: str, client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    """One world per endpoint (building one is the slow part); every row of it is checked and
    every failing row reported by its CSV values."""
    objects = _build(client, world, engine)
    failures = [
        problem for row in GROUPS[endpoint] if (problem := _check(row, client, engine, objects))
    ]
    assert failures == []


def _tallied(conn: Connection) -> int:
    return int(
        conn.execute(select(func.coalesce(func.sum(denied_tallies.c.count), 0))).scalar_one()
    )


def _check(row: Row, client: TestClient, engine: Engine, objects: Objects) -> str | None:
    with engine.connect() as conn:
        before = audit.log_size(conn)
        tallied = _tallied(conn)
        name = _user_name(row.role, row.relation)
        caller = (
            "anonymous"
            if name is None
            else str(conn.execute(select(users.c.id).where(users.c.name == name)).scalar_one())
        )
    token = _token(objects.rw.world, row)
    response = client.request(
        row.method,
        _path(row, objects),
        headers=auth(token) if token else {},
        **_body(row, objects),
    )
    if response.status_code != row.expected:
        return f"{row.id}: status {response.status_code}, expected {row.expected}"
    with engine.connect() as conn:
        entries = audit.entries(conn, cursor=encode_cursor(before - 1), limit=1000).items
    result = "allowed" if row.expected < 400 else "denied"
    if caller == "anonymous" and result == "denied":
        # Anonymous refusals are tallied per source and minute (one entry per minute later).
        with engine.connect() as conn:
            if _tallied(conn) <= tallied:
                return f"{row.id}: anonymous refusal not tallied"
        return None
    if not any(e.actor.id == caller and e.outcome.result == result for e in entries):
        return f"{row.id}: no {result} audit entry by {caller}"
    return None
