"""Retention: `matcher purge` makes a superseded extract's sealed fields unreadable for good,
deletes finished requests, hits without a case and closed cases after the policy's limits,
expires pending requests, and leaves an audit log that still verifies."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from matcher.actions.purge import run_purge
from matcher.app import create_app
from matcher.auditlog import export_lines, verify_export_lines
from matcher.cli.main import main as matcher_main
from matcher.crypto import log_public_key
from matcher.disclosure import DisclosureUnavailable, RecordSource, read_record
from matcher.settings import Settings
from matcher.store.audit import (
    EntryFilter,
    entries,
    entry_bytes,
    latest_checkpoint,
    log_size,
    system_actor,
)
from matcher.store.blobs import BlobStore
from matcher.store.database import utcnow
from matcher.store.tables import extracts, hits, reveal_requests
from tests.matcher.factories import World, auth
from tests.matcher.reveal_kit import RevealWorld, build_reveal_world, sealed_package


@pytest.fixture
def rw(client: TestClient, world: Callable[..., World], engine: Engine) -> RevealWorld:
    return build_reveal_world(client, world, engine)


def purge_at(rw: RevealWorld, days: float) -> dict[str, int]:
    summary = run_purge(
        rw.engine,
        BlobStore(rw.world.settings.blob_dir),
        utcnow() + timedelta(days=days),
        system_actor("test"),
    )
    return summary.__dict__


def log_verifies(rw: RevealWorld) -> int:
    with rw.engine.connect() as conn:
        size = log_size(conn)
        note = latest_checkpoint(conn, rw.world.settings)
        raw = list(entry_bytes(conn, size))
    origin = rw.world.settings.log_origin
    public = log_public_key(rw.world.settings.log_private_key_path.read_bytes())
    return verify_export_lines(list(export_lines(origin, origin, raw, note)), public).size


def test_purge_makes_a_superseded_extracts_fields_unreadable(rw: RevealWorld) -> None:
    request = rw.request().json()
    rw.decide(request["id"], "approver-b")
    assert rw.disclosure(request["id"]).status_code == 200
    old_id = str(rw.packages["a"].manifest.extract_id)
    with rw.engine.connect() as conn:
        old = conn.execute(select(extracts).where(extracts.c.id == old_id)).one()
    old_blob = BlobStore(rw.world.settings.blob_dir).path_for(old.blob_key)
    assert old_blob.is_file() and old.wrapped_data_key is not None

    # a uploads a newer extract: the old one is superseded but still readable for 30 days.
    kit = rw.world.companies["a"]
    newer = sealed_package(
        kit,
        rw.world.reveal_fingerprint,
        rw.world.settings.reveal_public_key_path.read_bytes(),
        seed=2,
    )
    response = rw.client.post(
        "/v1/extracts", files=newer.files(), headers=auth(kit.tokens["data_officer"])
    )
    assert response.status_code == 201, response.text
    assert purge_at(rw, 29)["extracts_purged"] == 0
    assert old_blob.is_file()

    summary = purge_at(rw, 31)
    assert summary["extracts_purged"] == 1 and summary["blobs_deleted"] == 1
    assert not old_blob.exists()
    with rw.engine.connect() as conn:
        keys = dict(conn.execute(select(extracts.c.id, extracts.c.wrapped_data_key)).all())
    assert keys[old_id] is None
    assert keys[str(newer.manifest.extract_id)] is not None  # the active one is untouched

    # The hit still points at the old extract (no run since): its fields are gone for good.
    gone = rw.disclosure(request["id"])
    assert gone.status_code == 410, gone.text
    assert gone.json()["type"].endswith("disclosure-unavailable")
    source = RecordSource("a", old_id, rw.packages["a"].frame["ref"][-1], old_blob, None)
    with pytest.raises(DisclosureUnavailable):
        read_record(source, ["first_name"], rw.world.settings.reveal_private_key_path.read_bytes())

    purges = rw.log("purge")
    assert [e.object_ids["extracts_purged"] for e in purges] == ["0", "1"]
    assert rw.log("disclosure.read")[-1].outcome.reason == "disclosure-unavailable"
    assert log_verifies(rw) == len(rw.log())


def test_finished_requests_then_hits_without_a_case_are_deleted(rw: RevealWorld) -> None:
    request = rw.request().json()
    rw.decide(request["id"], "approver-b")
    # 100 days on: the disclosure window (72 h, in March) ended > 90 days ago -> request goes;
    # the hit, last found now, is kept for 365 days.
    summary = purge_at(rw, 100)
    assert (summary["requests_deleted"], summary["hits_deleted"]) == (1, 0)
    summary = purge_at(rw, 366)
    assert summary["hits_deleted"] == 1
    with rw.engine.connect() as conn:
        assert conn.execute(select(hits.c.id)).all() == []
    assert log_verifies(rw) == len(rw.log())


def test_pending_requests_expire_and_open_cases_stay_until_closed(rw: RevealWorld) -> None:
    request = rw.request().json()
    summary = purge_at(rw, 400)
    assert summary["requests_expired"] == 1 and summary["hits_deleted"] == 0
    [expiry] = rw.log("reveal.expire")
    assert expiry.request_id == request["id"]
    with rw.engine.connect() as conn:
        status = conn.execute(select(reveal_requests.c.status)).scalar_one()
    assert status == "expired"
    # An open case (a request, no outcome) outlives hits_days ...
    assert purge_at(rw, 401)["hits_deleted"] == 0
    # ... and once closed, it stays closed_cases_days (730) before it goes.
    closed = rw.call(
        "POST",
        f"/v1/hits/{rw.hit_id}/outcome",
        "investigator-a",
        json={"outcome": "data_error", "note": "wrong start date at b"},
    )
    assert closed.status_code == 201
    summary = purge_at(rw, 700)  # the expired request itself goes 90 days after it expired
    assert (summary["requests_deleted"], summary["hits_deleted"]) == (1, 0)
    assert purge_at(rw, 731)["hits_deleted"] == 1
    assert log_verifies(rw) == len(rw.log())


def test_purge_command_prints_what_it_did(
    rw: RevealWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code = matcher_main(["purge", "--data-dir", str(rw.world.settings.data_dir)])
    assert code == 0
    assert "0 requests expired" in capsys.readouterr().out
    [entry] = rw.log("purge")
    assert entry.actor.role == "system" and entry.actor.id.startswith("cli")


def test_the_service_purges_periodically(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interval comes from settings (default an hour); a tiny one makes the task fire here.
    quick = settings.model_copy(update={"purge_interval_seconds": 0.01})
    with TestClient(create_app(quick)):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                found = entries(conn, EntryFilter(action="purge")).items
            if found:
                break
            time.sleep(0.05)
    assert found and found[0].actor.role == "system"
