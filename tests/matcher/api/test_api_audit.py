"""The audit API as an auditor uses it: a signed checkpoint that verifies with the pinned key,
entries with filters and pagination, inclusion and consistency proofs that verify against
checkpoints, every refused request logged without its token, and the statistics."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from matcher.actions.runs import SHIPPED_POLICY
from matcher.core.audit import (
    parse_and_verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from matcher.crypto import log_public_key
from matcher.store.hits import FoundHit, upsert_hits
from matcher.store.runs import create_run
from matcher.store.tables import hits
from tests.matcher.factories import World, auth


def _checkpoint(client: TestClient, w: World, token: str | None = None):
    response = client.get("/v1/audit/checkpoint", headers=auth(token or w.auditor_token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    public = log_public_key(w.settings.log_private_key_path.read_bytes())
    return parse_and_verify_checkpoint(response.text, public, w.settings.log_origin)


def _all_entries(client: TestClient, w: World, **params: str) -> list[dict]:
    found: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": "5", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit/entries", params=query, headers=auth(w.auditor_token))
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


def test_checkpoint_and_proofs_verify_for_an_auditor(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    early = _checkpoint(client, w)
    for _ in range(6):
        client.get("/v1/companies", headers=auth(w.admin_token))
    late = _checkpoint(client, w, w.admin_token)
    assert late.size > early.size

    entries = _all_entries(client, w)
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    for seq in (0, early.size - 1, late.size - 1):
        proof = client.get(
            "/v1/audit/proofs/inclusion",
            params={"seq": seq, "size": late.size},
            headers=auth(w.auditor_token),
        ).json()
        path = [base64.b64decode(p) for p in proof["proof"]]
        leaf = base64.b64decode(proof["leaf_hash"])
        assert verify_inclusion(leaf, seq, late.size, path, late.root)
    consistency = client.get(
        "/v1/audit/proofs/consistency",
        params={"from": early.size, "to": late.size},
        headers=auth(w.auditor_token),
    ).json()
    path = [base64.b64decode(p) for p in consistency["proof"]]
    assert verify_consistency(early.size, late.size, early.root, late.root, path)
    too_far = client.get(
        "/v1/audit/proofs/inclusion",
        params={"seq": 0, "size": late.size + 1000},
        headers=auth(w.auditor_token),
    )
    assert too_far.status_code == 422


def test_entries_are_the_hashed_bytes_and_filter_by_action_and_company(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    client.post("/v1/policies", content=SHIPPED_POLICY.read_bytes(), headers=auth(w.admin_token))
    client.get("/v1/hits", headers=auth(w.companies["a"].tokens["investigator"]))
    activations = _all_entries(client, w, action="policy.activate")
    assert len(activations) == 1
    assert activations[0]["policy"]["id"] == "concurrent-tenancy"
    assert activations[0]["actor"] == {"id": "1", "role": "admin", "company": None}
    reads = _all_entries(client, w, company="a", action="hit.list")
    assert len(reads) == 1 and reads[0]["actor"]["company"] == "a"
    assert _all_entries(client, w, company="b", action="hit.list") == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert _all_entries(client, w, **{"from": future}) == []
    investigator = auth(w.companies["a"].tokens["investigator"])
    assert client.get("/v1/audit/entries", headers=investigator).status_code == 403
    assert client.get("/v1/audit/entries", headers=auth(w.admin_token)).status_code == 403


def test_every_refusal_is_logged_with_actor_and_route_but_never_the_token(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    officer_token = w.companies["a"].tokens["data_officer"]
    client.get("/v1/hits")  # no token
    client.get("/v1/hits", headers=auth("cc_" + "x" * 43))  # unknown token
    client.get("/v1/hits/17", headers=auth(officer_token))  # wrong role
    client.get("/v1/hits/17", headers=auth(w.companies["b"].tokens["investigator"]))  # no hit
    client.post("/v1/users/investigator-c/revoke", headers=auth(w.admin_token))
    client.get("/v1/hits", headers=auth(w.companies["c"].tokens["investigator"]))  # revoked

    everyone = _all_entries(client, w, action="access.denied")
    # The two anonymous refusals are tallied per source, route and minute, not logged one by
    # one: reading the log wrote the tally out, one entry with the count and the route.
    anonymous = [e for e in everyone if e["actor"]["id"] == "anonymous"]
    assert [(e["object"]["route"], e["object"]["count"]) for e in anonymous] == [
        ("GET /v1/hits", "2")
    ]
    assert all(e["object"]["source"].startswith("src-") for e in anonymous)
    denied = [e for e in everyone if e["actor"]["id"] != "anonymous"]
    seen = [
        (e["actor"]["id"], e["actor"]["role"], e["outcome"]["reason"], e["object"]) for e in denied
    ]
    officer_id = denied[0]["actor"]["id"]
    revoked = [
        e for e in denied if e["actor"]["role"] == "investigator" and e["actor"]["company"] == "c"
    ]
    assert seen[:2] == [
        (
            officer_id,
            "data_officer",
            "forbidden",
            {"route": "GET /v1/hits/{hit_id}", "hit_id": "17"},
        ),
        (
            denied[1]["actor"]["id"],
            "investigator",
            "not-found",
            {"route": "GET /v1/hits/{hit_id}", "hit_id": "17"},
        ),
    ]
    assert len(revoked) == 1 and revoked[0]["outcome"]["reason"] == "unauthenticated"
    everything = client.get(
        "/v1/audit/entries", params={"limit": 1000}, headers=auth(w.auditor_token)
    ).text
    for token in (officer_token, w.admin_token, w.companies["c"].tokens["investigator"]):
        assert token not in everything
    assert "x" * 43 not in everything

    # A personal identity number typed into a URL is not copied into the log.
    client.post("/v1/users/19900101-1234/revoke", headers=auth(w.admin_token))
    last = _all_entries(client, w, action="access.denied")[-1]
    assert last["object"] == {"route": "POST /v1/users/{name}/revoke", "name": "(withheld)"}


def test_stats_count_denials_and_unreviewed_hits_by_age(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        from matcher.store.extracts import NewExtract, store_extract

        for company in ("a", "b"):
            store_extract(
                conn,
                NewExtract(
                    id=f"00000000-0000-4000-8000-00000000000{1 if company == 'a' else 2}",
                    company_id=company,
                    as_of=now.date(),
                    uploaded_by=1,
                    row_count=1,
                    size_bytes=1,
                    records_sha256="0" * 64,
                    blob_key="0" * 64,
                    manifest={},
                    contract_version="1",
                    encoding_digest="sha256:x",
                    matching_key_epoch="e",
                    reveal_key_fingerprint=w.reveal_fingerprint,
                    wrapped_data_key="x",
                ),
            )
        create_run(conn, "run-1", now.date(), "p", "1", "sha256:p", {}, "admin")
        ages = {"new": 1, "old": 40, "older": 200}
        found = [
            FoundHit(
                rule_id="concurrent-first-hand",
                lane="exact",
                band="strong",
                company_a="a",
                ref_a=ref,
                extract_a="00000000-0000-4000-8000-000000000001",
                company_b="b",
                ref_b=ref,
                extract_b="00000000-0000-4000-8000-000000000002",
                overlap_start=now.date(),
                overlap_end=now.date(),
                overlap_days=1,
                score=None,
            )
            for ref in ages
        ]
        upsert_hits(conn, found, "run-1", "p", "sha256:p", now)
        for ref, days in ages.items():
            conn.execute(
                hits.update()
                .where(hits.c.ref_a == ref)
                .values(first_seen=now - timedelta(days=days))
            )
    officer = w.companies["a"].tokens["data_officer"]
    for _ in range(3):
        client.get("/v1/hits", headers=auth(officer))
    stats = client.get("/v1/audit/stats", headers=auth(w.auditor_token))
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["hits_unreviewed_by_age"] == {"0-7d": 1, "8-30d": 0, "31-90d": 1, "over-90d": 1}
    assert sorted(body["denied_attempts_per_user"].values()) == [3]
    assert body["outcome_mix"] == {} and body["disclosures_per_user"] == {}
    assert client.get("/v1/audit/stats", headers=auth(w.admin_token)).status_code == 403
