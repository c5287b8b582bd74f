"""Runs and hits end to end in-process: upload planted tenancies, POST /v1/runs with the real
engine and the shipped policy, then what each company's investigators see in /v1/hits."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from matcher.actions.runs import SHIPPED_POLICY, execute_run, load_rules
from matcher.actions.worker import start_run
from matcher.api.problems import PROBLEM_BASE
from matcher.core.policy import PolicyError
from matcher.errors import NoActivePolicy
from matcher.store import audit
from matcher.store.blobs import BlobStore
from tests.matcher.factories import Tenancy, World, auth, run_to_end

HIT_KEYS = {
    "id",
    "rule",
    "band",
    "status",
    "own_company",
    "own_ref",
    "counterpart_company",
    "overlap_start",
    "overlap_end",
    "overlap_days",
    "first_seen",
    "last_seen",
    "outcome",
    "outcome_reason",
    "reveal_status",
}


def shared(seed: str) -> bytes:
    return random.Random(seed).randbytes(32)


def activate_shipped(client: TestClient, admin_token: str) -> None:
    """Runs need an active policy: activate the shipped one as an operator would."""
    response = client.post(
        "/v1/policies", content=SHIPPED_POLICY.read_bytes(), headers=auth(admin_token)
    )
    assert response.status_code in (200, 201), response.text


def upload_all(client: TestClient, w: World, planted: dict[str, list[Tenancy]], seed: int = 1):
    packages = {}
    for company, tenancies in planted.items():
        kit = w.companies[company]
        package = kit.package(w.reveal_fingerprint, planted=tenancies, seed=seed, rows=10)
        response = client.post(
            "/v1/extracts", files=package.files(), headers=auth(kit.tokens["data_officer"])
        )
        assert response.status_code == 201, response.text
        packages[company] = package
    return packages


def planted_world() -> dict[str, list[Tenancy]]:
    person, mover = shared("person"), shared("mover")
    return {
        # person: a residential contract at a and b for years -> one strong exact hit
        "a": [
            Tenancy(person, date(2019, 1, 1)),
            Tenancy(mover, date(2018, 1, 1), date(2024, 3, 31)),
        ],
        "b": [Tenancy(person, date(2021, 6, 1))],
        # mover: a notice-period overlap of 31 days with a -> no hit
        "c": [Tenancy(mover, date(2024, 3, 1))],
    }


def test_run_finds_planted_hit_and_shows_it_only_to_the_companies_involved(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    packages = upload_all(client, w, planted_world())
    activate_shipped(client, w.admin_token)

    summary = run_to_end(client, w.admin_token, "2026-03-01")
    assert summary["status"] == "succeeded"
    assert summary["stage"] == "done" and summary["progress"] == 1.0
    assert summary["policy_id"] == "concurrent-tenancy"
    assert summary["counts"]["rules"]["concurrent-first-hand"] == {"strong": 1, "review": 0}
    again = client.get(f"/v1/runs/{summary['id']}", headers=auth(w.admin_token))
    assert again.json()["counts"] == summary["counts"]

    page_a = client.get("/v1/hits", headers=auth(w.companies["a"].tokens["investigator"])).json()
    page_b = client.get("/v1/hits", headers=auth(w.companies["b"].tokens["approver"])).json()
    page_c = client.get("/v1/hits", headers=auth(w.companies["c"].tokens["investigator"])).json()
    assert page_c == {"items": [], "next_cursor": None}
    [hit_a], [hit_b] = page_a["items"], page_b["items"]
    assert set(hit_a) == HIT_KEYS  # never a score, never the counterpart's ref
    assert hit_a["id"] == hit_b["id"]
    assert (hit_a["own_company"], hit_a["counterpart_company"]) == ("a", "b")
    assert (hit_b["own_company"], hit_b["counterpart_company"]) == ("b", "a")
    refs_a, refs_b = packages["a"].frame["ref"], packages["b"].frame["ref"]
    assert hit_a["own_ref"] == refs_a[-2]  # the planted rows come last
    assert hit_b["own_ref"] == refs_b[-1]
    assert refs_b[-1] not in str(page_a) and refs_a[-2] not in str(page_b)
    assert (hit_a["overlap_start"], hit_a["overlap_end"]) == ("2021-06-01", "2026-03-01")
    assert hit_a["band"] == "strong" and hit_a["status"] == "open"

    one = client.get(
        f"/v1/hits/{hit_a['id']}", headers=auth(w.companies["a"].tokens["investigator"])
    )
    assert one.json() == hit_a
    hidden = client.get(
        f"/v1/hits/{hit_a['id']}", headers=auth(w.companies["c"].tokens["investigator"])
    )
    assert hidden.status_code == 404
    for role_token in (w.admin_token, w.auditor_token, w.companies["a"].tokens["data_officer"]):
        assert client.get("/v1/hits", headers=auth(role_token)).status_code == 403


def fake_engine(rows: list[dict[str, object]]):
    def find(frames, rules, run_date):
        return pl.DataFrame(
            rows,
            schema={
                "rule_id": pl.String,
                "lane": pl.String,
                "band": pl.String,
                "company_a": pl.String,
                "ref_a": pl.String,
                "company_b": pl.String,
                "ref_b": pl.String,
                "overlap_start": pl.Date,
                "overlap_end": pl.Date,
                "overlap_days": pl.Int32,
                "score": pl.Float64,
            },
        )

    return find


def hit_row(ref_a: str, ref_b: str = "r-b", rule: str = "identity-variant") -> dict[str, object]:
    return {
        "rule_id": rule,
        "lane": "fuzzy",
        "band": "review",
        "company_a": "a",
        "ref_a": ref_a,
        "company_b": "b",
        "ref_b": ref_b,
        "overlap_start": date(2025, 1, 1),
        "overlap_end": date(2025, 12, 31),
        "overlap_days": 365,
        "score": 0.75,
    }


def test_later_run_keeps_identity_and_resolves_vanished_hits(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    upload_all(client, w, {"a": [], "b": []})
    rules = load_rules(SHIPPED_POLICY)
    blobs = BlobStore(w.settings.blob_dir)
    investigator = auth(w.companies["a"].tokens["investigator"])

    first = execute_run(
        engine, blobs, rules, date(2026, 3, 1), "admin", fake_engine([hit_row("x"), hit_row("y")])
    )
    items = client.get("/v1/hits", headers=investigator).json()["items"]
    ids = {h["own_ref"]: h["id"] for h in items}
    second = execute_run(
        engine, blobs, rules, date(2026, 4, 1), "admin", fake_engine([hit_row("x")])
    )
    after = {h["own_ref"]: h for h in client.get("/v1/hits", headers=investigator).json()["items"]}

    assert first.counts["new"] == 2
    assert second.counts == {
        "rules": {
            "concurrent-first-hand": {"strong": 0, "review": 0},
            "identity-variant": {"strong": 0, "review": 1},
        },
        "hits": 1,
        "new": 0,
        "still_present": 1,
        "reopened": 0,
        "resolved_by_data": 1,
        "skipped": {},
    }
    assert after["x"]["id"] == ids["x"] and after["x"]["status"] == "open"
    assert after["x"]["first_seen"] == items[0]["first_seen"]
    assert after["y"]["status"] == "resolved_by_data"
    open_only = client.get("/v1/hits", params={"status": "open"}, headers=investigator).json()
    assert [h["own_ref"] for h in open_only["items"]] == ["x"]

    third = execute_run(
        engine, blobs, rules, date(2026, 5, 1), "admin", fake_engine([hit_row("x"), hit_row("y")])
    )
    assert third.counts["reopened"] == 1
    back = {h["own_ref"]: h for h in client.get("/v1/hits", headers=investigator).json()["items"]}
    assert back["y"]["id"] == ids["y"] and back["y"]["status"] == "open"


def test_hits_paginate_oldest_first_with_opaque_cursor_and_filters(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    upload_all(client, w, {"a": [], "b": []})
    rows = [hit_row(f"r{i:03d}") for i in range(7)] + [hit_row("s", rule="concurrent-first-hand")]
    execute_run(
        engine,
        BlobStore(w.settings.blob_dir),
        load_rules(SHIPPED_POLICY),
        date(2026, 3, 1),
        "admin",
        fake_engine(rows),
    )
    headers = auth(w.companies["b"].tokens["investigator"])
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/hits", params=params, headers=headers).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and seen == sorted(seen)
    by_rule = client.get("/v1/hits", params={"rule": "concurrent-first-hand"}, headers=headers)
    assert [h["own_ref"] for h in by_rule.json()["items"]] == ["r-b"]
    assert by_rule.json()["items"][0]["counterpart_company"] == "a"
    assert client.get("/v1/hits", params={"band": "strong"}, headers=headers).json()["items"] == []
    assert client.get("/v1/hits", params={"limit": 501}, headers=headers).status_code == 422
    bad = client.get("/v1/hits", params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["type"] == PROBLEM_BASE + "invalid-input"


def test_run_refuses_without_a_policy(
    world: Callable[..., World], tmp_path, engine: Engine
) -> None:
    w = world()
    with pytest.raises(NoActivePolicy, match="matcher policies activate FILE"):
        start_run(w.settings, None, date(2026, 3, 1), "admin", engine=engine)
    with pytest.raises(NoActivePolicy, match="does not exist"):
        start_run(w.settings, tmp_path / "missing.toml", date(2026, 3, 1), "admin", engine=engine)
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "x"\n[[rules]]\nlane = "nonsense"\n')
    with pytest.raises(PolicyError, match=r"rules\[0\]\.lane"):
        start_run(w.settings, broken, date(2026, 3, 1), "admin", engine=engine)
    # Active, but not valid on the run date (the shipped policy starts in 2026).
    with pytest.raises(NoActivePolicy, match="valid from 2026-01-01"):
        start_run(w.settings, SHIPPED_POLICY, date(2025, 3, 1), "admin", engine=engine)
    with engine.connect() as conn:
        starts = audit.entries(conn, audit.EntryFilter(action="run.start")).items
    assert [(e.outcome.result, e.outcome.reason) for e in starts] == [
        ("denied", "no_policy"),
        ("denied", "policy_unusable"),
    ]
    assert starts[1].policy is not None and starts[1].policy.id == "concurrent-tenancy"


def test_failed_engine_marks_the_run_failed(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    from matcher.errors import RunFailed

    w = world()

    def broken(frames, rules, run_date):
        raise ValueError("boom with a value that must not be stored")

    with pytest.raises(RunFailed) as caught:
        execute_run(
            engine,
            BlobStore(w.settings.blob_dir),
            load_rules(SHIPPED_POLICY),
            date(2026, 3, 1),
            "admin",
            broken,
        )
    run_id = str(caught.value).split()[1]
    shown = client.get(f"/v1/runs/{run_id}", headers=auth(w.admin_token)).json()
    assert shown["status"] == "failed"
    assert "boom" not in shown["error"] and "ValueError" in shown["error"]


def test_a_run_matches_only_the_policys_participants(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    upload_all(client, w, {"a": [], "b": [], "c": []})
    seen: list[set[str]] = []

    def find(frames, rules, run_date):  # type: ignore[no-untyped-def]
        seen.append(set(frames))
        return fake_engine([])(frames, rules, run_date)

    blobs = BlobStore(w.settings.blob_dir)
    rules = load_rules(SHIPPED_POLICY)
    run = execute_run(
        engine, blobs, rules, date(2026, 3, 1), "admin", find, participants=("a", "b")
    )
    assert seen == [{"a", "b"}]  # c's extract is never read under a policy that does not name c
    assert set(run.extract_ids) == {"a", "b"}
    execute_run(engine, blobs, rules, date(2026, 3, 1), "admin", find)
    assert seen[-1] == {"a", "b", "c"}
