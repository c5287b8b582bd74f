"""Subject access: the admin's report on one national-id token lists the hits, requests and
disclosures about that person with dates, purposes and companies, and never an employee's
name (CJEU C-579/21); hits show their outcome and reveal status in the queue."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.matcher.factories import World
from tests.matcher.reveal_kit import PERSON_TOKEN, RevealWorld, build_reveal_world


@pytest.fixture
def rw(client: TestClient, world: Callable[..., World], engine: Engine) -> RevealWorld:
    return build_reveal_world(client, world, engine)


def test_subject_report_lists_what_happened_without_names(rw: RevealWorld) -> None:
    request = rw.request().json()
    rw.decide(request["id"], "approver-b")
    rw.disclosure(request["id"])
    rw.disclosure(request["id"])
    rw.call(
        "POST",
        f"/v1/hits/{rw.hit_id}/outcome",
        "investigator-a",
        json={"outcome": "referred", "note": "sent to the legal department"},
    )

    response = rw.call("GET", f"/v1/subject-report?token={PERSON_TOKEN.hex()}", "admin")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["companies_holding_records"] == ["a", "b"]
    [hit] = report["hits"]
    assert hit["id"] == rw.hit_id and hit["companies"] == ["a", "b"]
    [filed] = hit["requests"]
    assert filed["purpose"] == "check concurrent first-hand contracts"
    assert filed["case_reference"] == "CASE-2026-0042"
    assert filed["requester_company"] == "a" and filed["status"] == "approved"
    assert [d["company"] for d in filed["decisions"]] == ["b"]
    assert len(filed["disclosures_read_at"]) == 2
    assert [(o["company"], o["outcome"]) for o in hit["outcomes"]] == [("a", "referred")]
    text = response.text
    for name in ("investigator-a", "approver-b", "admin"):
        assert name not in text
    assert "legal department" not in text  # notes are the case file, not the report

    [entry] = rw.log("subject.report")
    assert entry.object_ids["hits"] == "1"
    assert PERSON_TOKEN.hex() not in str(entry.to_dict())


def test_subject_report_is_for_admins_and_checks_the_token(rw: RevealWorld) -> None:
    path = "/v1/subject-report?token="
    assert rw.call("GET", path + PERSON_TOKEN.hex(), "investigator-a").status_code == 403
    assert rw.call("GET", path + "zz" * 32, "admin").status_code == 422
    assert rw.call("GET", path + "ab", "admin").status_code == 422
    nobody = rw.call("GET", path + "00" * 32, "admin").json()
    assert nobody == {"companies_holding_records": [], "hits": []}


def test_hits_carry_the_own_companys_outcome_and_reveal_status(rw: RevealWorld) -> None:
    from matcher.store.hits import hit_for_company, hits_for_company

    rw.request()
    rw.call(
        "POST",
        f"/v1/hits/{rw.hit_id}/outcome",
        "investigator-a",
        json={"outcome": "no_issue_explained", "reason": "notice_period_move"},
    )
    with rw.engine.connect() as conn:
        [own] = hits_for_company(conn, "a")
        other = hit_for_company(conn, rw.hit_id, "b")
    assert (own.outcome, own.outcome_reason, own.reveal_status) == (
        "no_issue_explained",
        "notice_period_move",
        "pending",
    )
    # b has neither investigated nor asked: a's work is not b's status.
    assert other is not None
    assert (other.outcome, other.reveal_status) == (None, None)
