"""The four-eyes reveal end to end on real packages: request, approval at the counterpart,
disclosure that really decrypts exactly the policy's fields of both records, outcome, and the
audit log that records every step (and still verifies)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from contract import PLAIN_REVEALABLE_FIELDS
from matcher.actions.runs import SHIPPED_POLICY
from matcher.auditlog import export_lines, verify_export_lines
from matcher.core.policy import load_policy
from matcher.store.audit import entry_bytes, latest_checkpoint, log_size
from tests.matcher.factories import World
from tests.matcher.reveal_kit import PERSON, STARTS, RevealWorld, build_reveal_world

RULE_FIELDS = next(
    r.reveal_fields
    for r in load_policy(SHIPPED_POLICY.read_bytes()).rules.rules
    if r.id == "concurrent-first-hand"
)


@pytest.fixture
def rw(client: TestClient, world: Callable[..., World], engine: Engine) -> RevealWorld:
    return build_reveal_world(client, world, engine)


def expected_values(company: str, fields: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    plain = {
        "contract_start": STARTS[company].isoformat(),
        "contract_end": None,
        "contract_type": "residential",
        "tenant_role": "primary",
    }
    return {f: plain[f] if f in PLAIN_REVEALABLE_FIELDS else PERSON[company][f] for f in fields}


def test_full_flow_reveals_exactly_the_policy_fields_of_both_records(rw: RevealWorld) -> None:
    filed = rw.request()
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert request["status"] == "pending"
    assert request["fields"] == list(RULE_FIELDS)
    assert (request["requester_company"], request["counterpart_company"]) == ("a", "b")

    # The approver at b sees it in their queue; the requester's colleague-approver at a does not
    # (the shipped policy wants the counterpart side).
    queue_b = rw.call("GET", "/v1/reveal-requests?status=pending", "approver-b").json()
    assert [r["id"] for r in queue_b["items"]] == [request["id"]]
    assert rw.call("GET", "/v1/reveal-requests", "approver-a").json()["items"] == []

    # Not readable before approval.
    early = rw.disclosure(request["id"])
    assert early.status_code == 403 and early.json()["code"] == "not_approved"

    approved = rw.decide(request["id"], "approver-b")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["decisions"][0]["company"] == "b"

    rw.clock.advance(hours=1)
    disclosure = rw.disclosure(request["id"])
    assert disclosure.status_code == 200, disclosure.text
    assert disclosure.headers["cache-control"] == "no-store"  # no cache keeps the fields
    body = disclosure.json()
    assert body["fields"] == list(RULE_FIELDS)
    assert "lead, not a verdict" in body["notice"]
    [own, other] = body["records"]
    assert (own["company"], own["own"], other["company"], other["own"]) == ("a", True, "b", False)
    # Real decryption: the planted plaintext comes back, and nothing outside the rule's set
    # (no phone, e-mail or birth date: the rule does not list them).
    assert own["values"] == expected_values("a", RULE_FIELDS)
    assert other["values"] == expected_values("b", RULE_FIELDS)
    for record in (own, other):
        assert set(record["values"]) == set(RULE_FIELDS)
        assert not {"phone", "email", "birth_date", "tenant_role"} & set(record["values"])

    outcome = rw.call(
        "POST",
        f"/v1/hits/{rw.hit_id}/outcome",
        "investigator-a",
        json={"outcome": "no_issue_explained", "reason": "co_tenant", "note": "co-tenant at b"},
    )
    assert outcome.status_code == 201, outcome.text
    assert outcome.json()["outcome"] == "no_issue_explained"

    actions = [(e.action, e.outcome.result, e.outcome.reason) for e in rw.log()]
    reveal_steps = [
        a for a in actions if a[0].startswith(("reveal.", "disclosure.")) or a[0] == "hit.outcome"
    ]
    assert reveal_steps == [
        ("reveal.request", "allowed", None),
        ("reveal.list", "allowed", None),  # every read of the queue is logged too
        ("reveal.list", "allowed", None),
        ("disclosure.read", "denied", "not_approved"),
        # The approver's reason is in the decision's entry (docs/approver.md).
        ("reveal.approve", "allowed", "the justification matches the case"),
        ("disclosure.read", "allowed", None),
        ("hit.outcome", "allowed", None),
    ]
    [read] = [e for e in rw.log("disclosure.read") if e.outcome.result == "allowed"]
    assert read.request_id == request["id"]
    assert read.fields == tuple(RULE_FIELDS)
    assert read.case_reference == "CASE-2026-0042"
    assert read.policy is not None and read.policy.id == "concurrent-tenancy"

    # The log verifies, and no revealed value (names, ids, addresses) is in any entry.
    with rw.engine.connect() as conn:
        size = log_size(conn)
        note = latest_checkpoint(conn, rw.world.settings)
        raw = list(entry_bytes(conn, size))
    origin = rw.world.settings.log_origin
    lines = list(export_lines(origin, origin, raw, note))
    public = _log_public_key(rw)
    summary = verify_export_lines(lines, public)
    assert summary.size == size
    # Entry times are left out (their microseconds can hold any four digits) and an
    # all-digit value counts only as a whole token, not inside a hexadecimal id.
    dump = "\n".join(
        json.dumps({k: v for k, v in json.loads(r).items() if k != "time"}) for r in raw
    )
    for values in PERSON.values():
        for value in values.values():
            if value.isdigit():
                assert not re.search(rf"(?<![0-9a-f]){value}(?![0-9a-f])", dump), value
            else:
                assert value not in dump, value


def test_subset_of_fields_reveals_only_that_subset(rw: RevealWorld) -> None:
    request = rw.request(fields=["city", "contract_start", "last_name"]).json()
    rw.decide(request["id"], "approver-b")
    body = rw.disclosure(request["id"]).json()
    # In the rule's order, exactly these three.
    assert body["fields"] == ["last_name", "city", "contract_start"]
    assert body["records"][1]["values"] == {
        "last_name": "Lindqvist-Berg",
        "city": "Norrköping",
        "contract_start": "2021-06-01",
    }
    outside = rw.request(fields=["email"])
    assert outside.status_code == 403 and outside.json()["code"] == "fields_not_allowed"


def test_request_validation_is_refused_and_logged(rw: RevealWorld) -> None:
    short = rw.request(justification="because")
    assert short.status_code == 403
    assert short.json()["code"] == "justification_too_short"
    assert "40 characters" in short.json()["detail"]
    # Personal data typed into the case reference never reaches the log.
    typed = rw.request(case_reference="19811218-9876")
    assert typed.status_code == 422
    approver = rw.request(who="approver-a")
    assert approver.json()["code"] == "role_may_not_request"
    foreign = rw.request(who="investigator-c")
    assert foreign.status_code == 404
    denied = [e for e in rw.log() if e.outcome.result == "denied"]
    assert [e.outcome.reason for e in denied] == [
        "justification_too_short",
        "personal_data_in_text",
        "role_may_not_request",
        "not-found",
    ]
    assert all(e.case_reference != "19811218-9876" for e in rw.log())


def test_deny_closes_the_request(rw: RevealWorld) -> None:
    request = rw.request().json()
    denied = rw.decide(request["id"], "approver-b", "deny")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert denied.json()["decisions"][0]["reason"] == "the justification matches the case"
    late = rw.decide(request["id"], "approver-b")
    assert late.status_code == 403 and late.json()["code"] == "request_not_pending"
    read = rw.disclosure(request["id"])
    assert read.status_code == 403 and read.json()["code"] == "not_approved"
    assert [e.outcome.result for e in rw.log("reveal.deny")] == ["allowed"]


def test_outcome_needs_a_reason_only_for_explained_and_a_company_in_the_hit(
    rw: RevealWorld,
) -> None:
    path = f"/v1/hits/{rw.hit_id}/outcome"
    missing = rw.call("POST", path, "investigator-b", json={"outcome": "no_issue_explained"})
    assert missing.status_code == 422
    extra = rw.call("POST", path, "investigator-b", json={"outcome": "referred", "reason": "other"})
    assert extra.status_code == 422
    ok = rw.call("POST", path, "investigator-b", json={"outcome": "confirmed_breach", "note": ""})
    assert ok.status_code == 201 and ok.json()["company"] == "b"
    assert (
        rw.call("POST", path, "investigator-c", json={"outcome": "data_error"}).status_code == 404
    )
    assert rw.call("POST", path, "approver-b", json={"outcome": "data_error"}).status_code == 403
    [entry] = rw.log("hit.outcome")
    assert entry.object_ids["outcome"] == "confirmed_breach"


def _log_public_key(rw: RevealWorld) -> bytes:
    from matcher.crypto import log_public_key

    return log_public_key(rw.world.settings.log_private_key_path.read_bytes())
