"""The reveal and auditor pages in-process (TestClient), on real sealed packages.

The world is the API tests' (tests/matcher/reveal_kit.py): companies a, b, c with real sealed
fields, the shipped policy, one hit between a and b, and a clock the tests move (the API and
the pages decide at the same clock). What a user would notice: the page actions leave exactly
the audit entries of the API actions; only the requester reads a disclosure, and only in time;
a form without the CSRF token changes nothing; a changed log entry is caught by both checks.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from matcher.core.audit import AuditEntry
from matcher.store.tables import audit_entries
from matcher.web.charts import bar_chart, daily_chart
from matcher.web.reveal import time_left
from tests.matcher.conftest import (  # noqa: F401 - the API tests' fixtures, reused here
    client,
    database_url,
    engine,
    initialised,
    postgresql_schema,
    settings,
    sqlite_template,
    world,
)
from tests.matcher.reveal_kit import START, RevealWorld, build_reveal_world

REQUEST = {
    "purpose": "check concurrent first-hand contracts",
    "case_reference": "CASE-2026-0042",
    "justification": "Two first-hand contracts overlap for years; we must check the tenancy "
    "before the rent review.",
}
FLOW_ACTIONS = ("reveal.request", "reveal.approve", "disclosure.read")


@pytest.fixture
def rw(client: TestClient, world: object, engine: Engine) -> RevealWorld:  # noqa: F811
    return build_reveal_world(client, world, engine)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def _web_as(rw: RevealWorld, who: str) -> str:
    """Sign ``who`` in through the sign-in page; returns the session's CSRF token."""
    rw.client.cookies.clear()
    rw.client.headers["Accept-Language"] = "en"  # the pages' texts below are the English ones
    form = rw.client.get("/web/sign-in")
    response = rw.client.post(
        "/web/sign-in",
        data={"token": rw.token(who), "csrf_token": _csrf(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return _csrf(rw.client.get("/web/home").text)


def _shape(entry: AuditEntry) -> tuple[object, ...]:
    """What must be equal between the API's and the page's entry of one action."""
    return (
        entry.action,
        entry.outcome.result,
        entry.outcome.reason,
        entry.actor.role,
        entry.actor.company,
        dict(entry.object_ids),
        entry.policy,
        entry.purpose,
        entry.case_reference,
        entry.fields,
        entry.request_id is not None,
    )


def _flow_entries(rw: RevealWorld, after: int) -> list[tuple[object, ...]]:
    return [_shape(e) for e in rw.log() if e.seq > after and e.action in FLOW_ACTIONS]


def _web_reveal(rw: RevealWorld, fields: list[str]) -> str:
    """Request (investigator-a), approve (approver-b) and read (investigator-a) on the pages;
    returns the request id."""
    token = _web_as(rw, "investigator-a")
    filed = rw.client.post(
        f"/web/hits/{rw.hit_id}/reveal-requests",
        data={**REQUEST, "fields": fields, "csrf_token": token},
        follow_redirects=False,
    )
    assert filed.status_code == 303, filed.text
    request_id: str = filed.headers["location"].split("filed=")[1]
    token = _web_as(rw, "approver-b")
    page = rw.client.get("/web/approvals")
    assert REQUEST["justification"] in page.text
    decided = rw.client.post(
        f"/web/requests/{request_id}/decision",
        # The same reason as the API call: it is in the entry (reveal_kit.decide).
        data={
            "decision": "approve",
            "reason": "the justification matches the case",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    _web_as(rw, "investigator-a")
    return request_id


def test_page_actions_leave_the_same_audit_entries_as_the_api(rw: RevealWorld) -> None:
    start = rw.log()[-1].seq
    filed = rw.request(**REQUEST)
    assert filed.status_code == 201, filed.text
    api_request = filed.json()
    assert rw.decide(api_request["id"], "approver-b").status_code == 200
    api_disclosure = rw.disclosure(api_request["id"])
    assert api_disclosure.status_code == 200
    by_api = _flow_entries(rw, start)
    middle = rw.log()[-1].seq

    request_id = _web_reveal(rw, api_request["fields"])
    page = rw.client.get(f"/web/requests/{request_id}/disclosure")
    assert page.status_code == 200, page.text
    by_pages = _flow_entries(rw, middle)

    assert [a[0] for a in by_api] == list(FLOW_ACTIONS)
    assert by_pages == by_api
    # The page shows exactly the values the API disclosed, both records, and the notice.
    for record in api_disclosure.json()["records"]:
        for value in record["values"].values():
            if value:
                assert value in page.text
    assert "A hit is a lead, not a verdict." in page.text


def test_only_the_requester_reads_the_disclosure_and_only_in_time(rw: RevealWorld) -> None:
    request_id = _web_reveal(rw, ["first_name", "last_name", "city"])
    # The approver knows the request but may not read what it reveals.
    _web_as(rw, "approver-b")
    refused = rw.client.get(f"/web/requests/{request_id}/disclosure")
    assert refused.status_code == 403
    assert "Only the person who requested the reveal may read it." in refused.text
    assert "Lindqvist" not in refused.text
    denied = rw.log("disclosure.read")[-1]
    assert (denied.outcome.result, denied.outcome.reason) == ("denied", "not_requester")

    _web_as(rw, "investigator-a")
    ok = rw.client.get(f"/web/requests/{request_id}/disclosure")
    assert ok.status_code == 200 and "Lindqvist" in ok.text
    assert "71 h 59 min left" in ok.text or "72 h 0 min left" in ok.text
    # Only the chosen fields: the city, never the street address the rule would also allow.
    assert "Storgatan" not in ok.text

    rw.clock.advance(hours=73)
    late = rw.client.get(f"/web/requests/{request_id}/disclosure")
    assert late.status_code == 403
    assert "Lindqvist" not in late.text
    requests = rw.client.get("/web/requests")
    assert "no time left" in requests.text


def test_a_too_short_justification_is_shown_next_to_its_field_and_logged(
    rw: RevealWorld,
) -> None:
    token = _web_as(rw, "investigator-a")
    page = rw.client.post(
        f"/web/hits/{rw.hit_id}/reveal-requests",
        data={**REQUEST, "justification": "short", "fields": ["city"], "csrf_token": token},
    )
    assert page.status_code == 422
    error = re.search(r'<p class="field-error" id="justification-error">([^<]+)</p>', page.text)
    assert error and "shorter than the policy requires" in error.group(1)
    assert 'value="CASE-2026-0042"' in page.text  # what was typed stays in the form
    entry = rw.log("reveal.request")[-1]
    assert (entry.outcome.result, entry.outcome.reason) == ("denied", "justification_too_short")


def test_a_decision_without_the_csrf_token_changes_nothing(rw: RevealWorld) -> None:
    filed = rw.request(**REQUEST)
    request_id = filed.json()["id"]
    _web_as(rw, "approver-b")
    response = rw.client.post(
        f"/web/requests/{request_id}/decision", data={"decision": "approve", "reason": "ok"}
    )
    assert response.status_code == 403
    assert "Form refused" in response.text
    assert [e for e in rw.log("reveal.approve")] == []
    assert rw.call("GET", f"/v1/reveal-requests/{request_id}", "investigator-a").json()[
        "status"
    ] == ("pending")


def test_an_investigator_of_a_third_company_can_not_request_by_url(rw: RevealWorld) -> None:
    token = _web_as(rw, "investigator-c")
    response = rw.client.post(
        f"/web/hits/{rw.hit_id}/reveal-requests",
        data={**REQUEST, "fields": ["city"], "csrf_token": token},
    )
    assert response.status_code == 404
    assert "Traceback" not in response.text
    assert rw.log("reveal.request") == []


def test_the_auditor_pages_catch_a_changed_entry(rw: RevealWorld, engine: Engine) -> None:  # noqa: F811
    _web_reveal(rw, ["city"])
    token = _web_as(rw, "auditor")
    target = rw.log("reveal.approve")[-1].seq
    entry = rw.client.get(f"/web/audit/entries/{target}")
    assert "Verified: entry" in entry.text
    intact = rw.client.post("/web/audit/verify", data={"csrf_token": token})
    assert "The log is intact" in intact.text and "OK: " in intact.text

    # Someone with database access rewrites the approval's reason code afterwards.
    with engine.begin() as conn:
        raw = conn.execute(audit_entries.select().where(audit_entries.c.seq == target)).one()
        changed = bytes(raw.entry).replace(b'"approver"', b'"auditor"')
        assert changed != bytes(raw.entry)
        conn.execute(
            update(audit_entries).where(audit_entries.c.seq == target).values(entry=changed)
        )
    entry = rw.client.get(f"/web/audit/entries/{target}")
    assert "Not verified" in entry.text
    broken = rw.client.post("/web/audit/verify", data={"csrf_token": token})
    assert "The log does NOT verify." in broken.text
    assert "The log is intact" not in broken.text


def test_the_log_filters_by_case_reference_and_shows_bad_dates_at_the_field(
    rw: RevealWorld,
) -> None:
    _web_reveal(rw, ["city"])
    _web_as(rw, "auditor")
    page = rw.client.get("/web/audit", params={"case_reference": REQUEST["case_reference"]})
    rows = re.findall(r'<a href="/web/audit/entries/(\d+)"', page.text)
    assert len(rows) == 2  # the request and the approval (a listing has no case reference)
    assert "reveal.request" in page.text and "reveal.approve" in page.text
    bad = rw.client.get("/web/audit", params={"time_from": "yesterday"})
    assert bad.status_code == 422 and 'id="time_from-error"' in bad.text
    stats = rw.client.get("/web/audit/stats")
    assert stats.status_code == 200 and stats.text.count('<svg class="chart"') == 4


def test_time_left_and_charts() -> None:
    assert time_left(START + timedelta(hours=2, minutes=5, seconds=30), START) == (2, 5)
    assert time_left(START, START) is None and time_left(None, START) is None
    chart = str(bar_chart("Outcomes", [("<b>x</b>", 3), ("y", 1)], "none"))
    assert "<b>x</b>" not in chart and "&lt;b&gt;x&lt;/b&gt;" in chart
    assert 'aria-label="Outcomes"' in chart and ">3</text>" in chart
    empty = str(daily_chart("Reads", {}, "Nothing read"))
    assert "Nothing read" in empty
    daily = str(daily_chart("Reads", {"7": {date(2026, 11, 2): 2, date(2026, 11, 1): 1}}, "-"))
    assert daily.count('<rect class="bar"') == 2 and "2026-11-01" in daily
