"""Synth -> pseudonymise -> upload -> run -> hits, in-process through the app's TestClient.

What the people involved would notice: every planted concurrent tenancy between two companies
is in both companies' queues, a notice-period move is not, each company sees only its own
side (own ref, counterpart company), and a third company sees none of the others' hits.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.upload import upload_package
from demo.story import all_hits
from matcher.actions.runs import SHIPPED_POLICY
from matcher.app import create_app
from matcher.settings import init_data_dir
from tests.e2e.story import AS_OF, bearer, planted, prepare_companies, record_pairs
from tests.matcher.factories import run_to_end

HIDDEN_KEYS = {"score", "counterpart_ref", "ref_a", "ref_b", "company_a", "company_b"}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("e2e")
    settings, admin_token = init_data_dir(root / "matcher", None)
    synthetic, companies = prepare_companies(root, settings.reveal_public_key_path)
    client = TestClient(create_app(settings))
    admin = bearer(admin_token)
    tokens: dict[str, dict[str, str]] = {}
    for company in companies:
        cid = company.company_id
        signing = (company.workspace / "signing.pub").read_text(encoding="ascii")
        response = client.post(
            "/v1/companies",
            json={"id": cid, "name": cid.title(), "signing_public_key": signing},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        tokens[cid] = {}
        for role in ("data_officer", "investigator"):
            response = client.post(
                "/v1/users",
                json={"name": f"{cid}-{role}", "role": role, "company_id": cid},
                headers=admin,
            )
            assert response.status_code == 201, response.text
            tokens[cid][role] = response.json()["token"]
    uploads = {
        c.company_id: upload_package(
            c.package, client=client, token=tokens[c.company_id]["data_officer"]
        )
        for c in companies
    }
    # A run needs an active policy: the operator activates the shipped one first.
    response = client.post("/v1/policies", content=SHIPPED_POLICY.read_bytes(), headers=admin)
    assert response.status_code == 201, response.text
    run = run_to_end(client, admin_token, AS_OF)
    assert run["status"] == "succeeded"
    hits = {
        c.company_id: list(all_hits(client, tokens[c.company_id]["investigator"]))
        for c in companies
    }
    return {
        "client": client,
        "companies": companies,
        "truth": synthetic.truth,
        "tokens": tokens,
        "uploads": uploads,
        "hits": hits,
        "run": run,
    }


def test_uploads_are_accepted_and_repeating_one_changes_nothing(story: dict) -> None:
    client, tokens = story["client"], story["tokens"]
    for company in story["companies"]:
        first = story["uploads"][company.company_id]
        assert first.created
        again = upload_package(
            company.package, client=client, token=tokens[company.company_id]["data_officer"]
        )
        assert not again.created
        assert again.extract_id == first.extract_id


def test_every_planted_concurrent_tenancy_is_in_both_queues(story: dict) -> None:
    pairs = record_pairs(story["hits"], story["companies"])
    found = {frozenset(pair.items()) for pair in pairs.values()}
    cases = planted(story["truth"], "concurrent_tenancy")
    assert cases, "the synthetic set has planted concurrent tenancies"
    for case in cases:
        assert frozenset(case.items()) in found, f"planted case not found: {case}"


def test_notice_period_moves_are_not_flagged(story: dict) -> None:
    pairs = record_pairs(story["hits"], story["companies"])
    found = {frozenset(pair.items()) for pair in pairs.values()}
    moves = planted(story["truth"], "short_overlap_move")
    assert moves
    assert not [case for case in moves if frozenset(case.items()) in found]


def test_each_company_sees_only_its_own_side(story: dict) -> None:
    for company_id, hits in story["hits"].items():
        assert hits
        for hit in hits:
            assert hit["own_company"] == company_id
            assert hit["counterpart_company"] != company_id
            assert not HIDDEN_KEYS & hit.keys()
            assert hit["overlap_days"] >= 92


def test_third_company_can_not_see_or_open_the_others_hits(story: dict) -> None:
    client, tokens = story["client"], story["tokens"]
    linbo = {h["id"] for h in story["hits"]["linbo"] if h["counterpart_company"] == "norrhem"}
    motabo_token = tokens["motabo"]["investigator"]
    assert linbo
    assert not linbo & {h["id"] for h in story["hits"]["motabo"]}
    for hit_id in sorted(linbo)[:5]:
        response = client.get(f"/v1/hits/{hit_id}", headers=bearer(motabo_token))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


def test_run_counts_match_what_investigators_see(story: dict) -> None:
    run = story["run"]
    distinct = {h["id"] for hits in story["hits"].values() for h in hits}
    per_rule = run["counts"]["rules"]
    assert sum(sum(bands.values()) for bands in per_rule.values()) == len(distinct)
    assert run["counts"]["hits"] == len(distinct)


def test_resolve_finds_the_own_record_behind_a_hit(
    story: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from connectors.cli.main import main as connector

    company = story["companies"][0]
    hit = story["hits"][company.company_id][0]
    capsys.readouterr()
    assert connector(["resolve", hit["own_ref"], "--profile", str(company.profile)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith(hit["own_ref"] + ",") and len(line) > len(hit["own_ref"]) + 1
