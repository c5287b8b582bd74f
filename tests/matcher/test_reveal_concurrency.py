"""On PostgreSQL: 20 reveal flows (request, approval, disclosure) and uploads at the same time.
Afterwards every flow completed once, the audit log has exactly the expected entries with
seq 0..n-1 and no gaps, and an export of it verifies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from matcher.auditlog import export_lines, verify_export_lines
from matcher.crypto import log_public_key
from matcher.store.audit import entry_bytes, latest_checkpoint, log_size
from tests.matcher.factories import World, auth
from tests.matcher.reveal_kit import RevealWorld, build_reveal_world, sealed_package

FLOWS = 20
UPLOADERS = ("c", "d", "e")


@pytest.fixture
def rw(
    client: TestClient, world: Callable[..., World], engine: Engine, database_url: str
) -> RevealWorld:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency is tested on PostgreSQL (SQLite serialises writers anyway)")
    return build_reveal_world(client, lambda: world(("a", "b", *UPLOADERS)), engine)


def test_concurrent_reveal_flows_and_uploads_leave_a_complete_verifiable_log(
    rw: RevealWorld,
) -> None:
    before = len(rw.log())
    public_pem = rw.world.settings.reveal_public_key_path.read_bytes()
    packages = {
        cid: sealed_package(
            rw.world.companies[cid], rw.world.reveal_fingerprint, public_pem, person=False
        )
        for cid in UPLOADERS
    }

    def flow(n: int) -> tuple[str, int, int, int]:
        filed = rw.request(case_reference=f"CASE-2026-{n:04d}")
        request_id = filed.json()["id"]
        approved = rw.decide(request_id, "approver-b")
        read = rw.disclosure(request_id)
        return request_id, filed.status_code, approved.status_code, read.status_code

    def upload(cid: str) -> int:
        kit = rw.world.companies[cid]
        response = rw.client.post(
            "/v1/extracts", files=packages[cid].files(), headers=auth(kit.tokens["data_officer"])
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        flows = [pool.submit(flow, n) for n in range(FLOWS)]
        uploads = [pool.submit(upload, cid) for cid in UPLOADERS]
        results = [f.result() for f in flows]
        upload_codes = [u.result() for u in uploads]

    assert upload_codes == [201] * len(UPLOADERS)
    assert [r[1:] for r in results] == [(201, 200, 200)] * FLOWS
    request_ids = {r[0] for r in results}
    assert len(request_ids) == FLOWS

    log = rw.log()
    assert [e.seq for e in log] == list(range(len(log)))  # no gaps, no duplicates
    new = log[before:]
    counted = Counter((e.action, e.outcome.result) for e in new)
    assert counted == {
        ("reveal.request", "allowed"): FLOWS,
        ("reveal.approve", "allowed"): FLOWS,
        ("disclosure.read", "allowed"): FLOWS,
        ("upload.accept", "allowed"): len(UPLOADERS),
    }
    per_request = Counter(e.request_id for e in new if e.request_id)
    assert per_request == dict.fromkeys(request_ids, 3)
    cases = {e.case_reference for e in new if e.action == "disclosure.read"}
    assert cases == {f"CASE-2026-{n:04d}" for n in range(FLOWS)}

    with rw.engine.connect() as conn:
        size = log_size(conn)
        note = latest_checkpoint(conn, rw.world.settings)
        raw = list(entry_bytes(conn, size))
    origin = rw.world.settings.log_origin
    public = log_public_key(rw.world.settings.log_private_key_path.read_bytes())
    assert verify_export_lines(list(export_lines(origin, origin, raw, note)), public).size == size
