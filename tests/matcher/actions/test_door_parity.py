"""Door parity: an operation reachable through more than one door (API, web page, console)
leaves the same audit entry through each: action, actor, target, outcome and reason.

The API and the page act as the same person (one token, signed in on the page), so their
entries must be equal in full. The console acts as ``cli:<login>`` with the admin role; its
entries must be equal in everything but the actor's id. Objects created afresh through each
door (a company, a user) are compared by which keys name them and by every other value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from matcher.actions.throttle import flush_tallies
from matcher.app import create_app
from matcher.cli.main import main as matcher_main
from matcher.core.audit import AuditEntry
from matcher.store import audit
from matcher.store.extracts import NewExtract, store_extract
from matcher.store.hits import FoundHit, upsert_hits
from matcher.store.runs import create_run
from matcher.store.users import add_user, revoke_user
from tests.matcher.factories import World, auth, public_pem


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def _sign_in(client: TestClient, token: str) -> str:
    """Sign in on the pages; returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/web/sign-in")
    response = client.post(
        "/web/sign-in",
        data={"token": token, "csrf_token": _csrf(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return _csrf(client.get("/web/home").text)


def _shape(entry: AuditEntry, *, actor_id: bool = True) -> tuple[Any, ...]:
    actor = (entry.actor.id if actor_id else None, entry.actor.role, entry.actor.company)
    return (entry.action, actor, dict(entry.object_ids), entry.outcome)


def _new(engine: Engine, after: int) -> list[AuditEntry]:
    with engine.connect() as conn:
        return [e for e in audit.entries(conn, limit=10_000).items if e.seq > after]


def _last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return audit.log_size(conn) - 1


@pytest.fixture
def doors(world: Any, engine: Engine) -> Iterator[tuple[World, TestClient, Engine]]:
    built: World = world(("a", "b"))
    # Two extracts and two hits between a and b, so there is something to list and read.
    with engine.begin() as conn:
        extract_ids = {}
        for cid in ("a", "b"):
            extract_ids[cid] = str(uuid.uuid4())
            store_extract(
                conn,
                NewExtract(
                    id=extract_ids[cid],
                    company_id=cid,
                    as_of=date(2026, 11, 1),
                    uploaded_by=1,
                    row_count=2,
                    size_bytes=1,
                    records_sha256="0" * 64,
                    blob_key="0" * 64,
                    manifest={},
                    contract_version="1",
                    encoding_digest="sha256:x",
                    matching_key_epoch="mk-test",
                    reveal_key_fingerprint="f" * 32,
                    wrapped_data_key="x",
                ),
            )
        run_id = str(uuid.uuid4())
        create_run(conn, run_id, date(2026, 11, 1), "p", "1", "sha256:p", extract_ids, "admin")
        found = [
            FoundHit(
                rule_id="concurrent-first-hand",
                lane="exact",
                band="strong",
                company_a="a",
                ref_a=f"a{i}",
                extract_a=extract_ids["a"],
                company_b="b",
                ref_b=f"b{i}",
                extract_b=extract_ids["b"],
                overlap_start=date(2025, 1, 1),
                overlap_end=date(2025, 6, 30),
                overlap_days=181,
                score=0.99,
            )
            for i in range(2)
        ]
        upsert_hits(conn, found, run_id, "p", "sha256:p", datetime.now(UTC) - timedelta(days=9))
    with TestClient(create_app(built.settings)) as client:
        yield built, client, engine


def _one(entries: list[AuditEntry], action: str) -> AuditEntry:
    matching = [e for e in entries if e.action == action]
    assert len(matching) == 1, [e.action for e in entries]
    return matching[0]


def test_reading_hits_leaves_the_same_entries_on_the_api_and_the_pages(
    doors: tuple[World, TestClient, Engine],
) -> None:
    built, client, engine = doors
    token = built.companies["a"].tokens["investigator"]
    start = _last_seq(engine)
    listed = client.get("/v1/hits", headers=auth(token))
    assert listed.status_code == 200, listed.text
    hit_id = listed.json()["items"][0]["id"]
    assert client.get(f"/v1/hits/{hit_id}", headers=auth(token)).status_code == 200
    by_api = _new(engine, start)

    _sign_in(client, token)
    middle = _last_seq(engine)
    assert client.get("/web/queue").status_code == 200
    assert client.get(f"/web/hits/{hit_id}").status_code == 200
    by_page = _new(engine, middle)

    for action in ("hit.list", "hit.read"):
        assert _shape(_one(by_page, action)) == _shape(_one(by_api, action))
    assert _one(by_page, "hit.read").object_ids == {"hit": str(hit_id), "company": "a"}


def test_listing_extracts_leaves_the_same_entry_on_the_api_and_the_page(
    doors: tuple[World, TestClient, Engine],
) -> None:
    built, client, engine = doors
    token = built.companies["a"].tokens["data_officer"]
    start = _last_seq(engine)
    assert client.get("/v1/extracts", headers=auth(token)).status_code == 200
    by_api = _new(engine, start)
    _sign_in(client, token)
    middle = _last_seq(engine)
    assert client.get("/web/extracts").status_code == 200
    by_page = _new(engine, middle)
    assert _shape(_one(by_page, "extract.list")) == _shape(_one(by_api, "extract.list"))


def test_statistics_leave_the_same_entry_on_the_api_and_the_page(
    doors: tuple[World, TestClient, Engine],
) -> None:
    built, client, engine = doors
    start = _last_seq(engine)
    stats = client.get("/v1/audit/stats", headers=auth(built.auditor_token))
    assert stats.status_code == 200
    assert stats.json()["decisions_per_approver"] == {}
    by_api = _new(engine, start)
    _sign_in(client, built.auditor_token)
    middle = _last_seq(engine)
    assert client.get("/web/audit/stats").status_code == 200
    by_page = _new(engine, middle)
    assert _shape(_one(by_page, "audit.stats")) == _shape(_one(by_api, "audit.stats"))


def test_reading_the_log_leaves_the_same_entries_on_the_api_and_the_pages(
    doors: tuple[World, TestClient, Engine],
) -> None:
    built, client, engine = doors
    headers = auth(built.auditor_token)
    start = _last_seq(engine)
    assert client.get("/v1/audit/entries", headers=headers).status_code == 200
    assert client.get("/v1/audit/checkpoint", headers=headers).status_code == 200
    by_api = _new(engine, start)
    csrf = _sign_in(client, built.auditor_token)
    middle = _last_seq(engine)
    assert client.get("/web/audit").status_code == 200
    assert client.get("/web/audit/checkpoint").status_code == 200
    assert client.post("/web/audit/verify", data={"csrf_token": csrf}).status_code == 200
    by_page = _new(engine, middle)
    assert _shape(_one(by_page, "audit.entries")) == _shape(_one(by_api, "audit.entries"))
    # The checkpoint's size differs (the log grew in between); the rest is the same.
    page_checkpoint = _without_ids(_one(by_page, "audit.checkpoint"), "size")
    api_checkpoint = _without_ids(_one(by_api, "audit.checkpoint"), "size")
    assert page_checkpoint == api_checkpoint
    verified = _one(by_page, "audit.verify")
    assert verified.outcome.result == "allowed" and verified.outcome.reason is None


def test_listing_runs_leaves_the_same_entry_on_the_api_and_the_page(
    doors: tuple[World, TestClient, Engine],
) -> None:
    built, client, engine = doors
    start = _last_seq(engine)
    listed = client.get("/v1/runs", headers=auth(built.admin_token))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 1
    by_api = _new(engine, start)
    _sign_in(client, built.admin_token)
    middle = _last_seq(engine)
    assert client.get("/web/admin/runs").status_code == 200
    by_page = _new(engine, middle)
    assert _shape(_one(by_page, "run.list")) == _shape(_one(by_api, "run.list"))
    assert _one(by_page, "run.list").object_ids == {"count": "1"}


def _without_ids(entry: AuditEntry, *names: str) -> tuple[Any, ...]:
    """The entry's shape with the ids of objects made afresh by each door replaced by keys."""
    objects = {k: ("<new>" if k in names else v) for k, v in entry.object_ids.items()}
    return (entry.action, entry.actor.role, entry.actor.company, objects, entry.outcome)


def test_companies_and_users_leave_the_same_entries_through_api_pages_and_console(
    doors: tuple[World, TestClient, Engine], tmp_path: Any
) -> None:
    built, client, engine = doors
    admin = auth(built.admin_token)
    data_dir = str(built.settings.data_dir)
    key_file = tmp_path / "signing.pub"

    def pem(seed: int) -> str:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return public_pem(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))

    results: dict[str, list[AuditEntry]] = {}

    # --- the API
    start = _last_seq(engine)
    assert (
        client.post(
            "/v1/companies",
            json={"id": "via-api", "name": "Via API", "signing_public_key": pem(1)},
            headers=admin,
        ).status_code
        == 201
    )
    assert client.get("/v1/companies", headers=admin).status_code == 200
    user = {"name": "api-auditor", "role": "auditor"}
    assert client.post("/v1/users", json=user, headers=admin).status_code == 201
    assert client.get("/v1/users", headers=admin).status_code == 200
    assert client.post("/v1/users/api-auditor/revoke", headers=admin).status_code == 200
    results["api"] = _new(engine, start)

    # --- the pages, as the same admin
    csrf = _sign_in(client, built.admin_token)
    start = _last_seq(engine)
    added = client.post(
        "/web/admin/companies",
        data={
            "company_id": "via-page",
            "name": "Via page",
            "signing_key": pem(2),
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    assert client.get("/web/admin/companies").status_code == 200
    made = client.post(
        "/web/admin/users",
        data={"name": "page-auditor", "role": "auditor", "company_id": "", "csrf_token": csrf},
    )
    assert made.status_code == 200, made.text
    assert client.get("/web/admin/users").status_code == 200
    revoked = client.post(
        "/web/admin/users/page-auditor/revoke",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303, revoked.text
    results["page"] = _new(engine, start)

    # --- the console
    key_file.write_text(pem(3), encoding="ascii")
    start = _last_seq(engine)
    base = ["--data-dir", data_dir]
    assert (
        matcher_main(
            [
                "companies",
                "add",
                "via-cli",
                "--name",
                "Via CLI",
                "--signing-key",
                str(key_file),
                *base,
            ]
        )
        == 0
    )
    assert matcher_main(["companies", "list", *base]) == 0
    assert matcher_main(["users", "add", "cli-auditor", "--role", "auditor", *base]) == 0
    assert matcher_main(["users", "list", *base]) == 0
    assert matcher_main(["users", "revoke", "cli-auditor", *base]) == 0
    results["cli"] = _new(engine, start)

    actions = ["company.create", "company.list", "user.create", "user.list", "user.revoke"]
    for door, entries in results.items():
        assert [e.action for e in entries] == actions, door
        created, revoke = entries[2], entries[4]
        assert revoke.object_ids == created.object_ids, door  # the same user, by opaque id
        assert entries[0].object_ids == {"company": f"via-{door}"}
    api, page, cli = (results[d] for d in ("api", "page", "cli"))
    for a, p, c in zip(api, page, cli, strict=True):
        # API and page: one admin, so the entries are equal but for what each door created.
        assert a.actor == p.actor
        assert _without_ids(a, "company", "user") == _without_ids(p, "company", "user")
        # The console acts as cli:<login>, an admin: equal but for the actor's id.
        assert _without_ids(c, "company", "user") == _without_ids(a, "company", "user")
        assert c.actor.id.startswith("cli:")


def test_a_refused_sign_in_is_the_same_refusal_as_a_bad_bearer_token(
    doors: tuple[World, TestClient, Engine],
) -> None:
    # A revoked token names its user, so each refusal is one entry of its own.
    _, client, engine = doors
    with engine.begin() as conn:
        _, token = add_user(conn, "leaver", "auditor", None)
        revoke_user(conn, "leaver")
    start = _last_seq(engine)
    assert client.get("/v1/hits", headers=auth(token)).status_code == 401
    by_api = _one(_new(engine, start), "access.denied")
    client.cookies.clear()
    form = client.get("/web/sign-in")
    middle = _last_seq(engine)
    refused = client.post("/web/sign-in", data={"token": token, "csrf_token": _csrf(form.text)})
    assert refused.status_code == 401
    by_page = _one(_new(engine, middle), "access.denied")
    # The same actor and outcome; the target is each door's route.
    assert (by_page.actor, by_page.outcome) == (by_api.actor, by_api.outcome)
    assert by_api.object_ids == {"route": "GET /v1/hits"}
    assert by_page.object_ids == {"route": "POST /web/sign-in"}


def test_anonymous_refusals_at_both_doors_are_tallied_not_logged_one_by_one(
    doors: tuple[World, TestClient, Engine],
) -> None:
    _, client, engine = doors
    start = _last_seq(engine)
    assert client.get("/v1/hits", headers=auth("cc_unknown")).status_code == 401
    client.cookies.clear()
    form = client.get("/web/sign-in")
    refused = client.post(
        "/web/sign-in", data={"token": "cc_unknown2", "csrf_token": _csrf(form.text)}
    )
    assert refused.status_code == 401
    assert [e for e in _new(engine, start) if e.action == "access.denied"] == []
    with engine.begin() as conn:
        flush_tallies(conn, datetime.now(UTC) + timedelta(minutes=1))
    tallied = [e for e in _new(engine, start) if e.action == "access.denied"]
    # one entry per source, route and minute, each with its count and route
    assert sorted((e.object_ids["route"], e.object_ids["count"]) for e in tallied) == [
        ("GET /v1/hits", "1"),
        ("POST /web/sign-in", "1"),
    ]
    for entry in tallied:
        assert entry.actor.id == "anonymous"
        assert entry.object_ids["source"].startswith("src-")
        assert "testclient" not in str(entry.object_ids)
