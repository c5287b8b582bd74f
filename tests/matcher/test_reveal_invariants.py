"""Four-eyes invariants: self-approval, double approval by one person, approval from the wrong
side, approval after expiry, disclosure by someone else and disclosure after its time-to-live
are all refused with the policy's reason, and every refusal is an audit entry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.matcher.factories import World
from tests.matcher.reveal_kit import RevealWorld, build_reveal_world, policy_text

# Approvers may also request (so self-approval is reachable), two approvals from the
# counterpart are needed (so a second click by the same person is reachable).
TWO_APPROVALS = policy_text(
    requesters='["investigator", "approver"]             # test variant',
    approvals_required="2",
)


@pytest.fixture
def rw(client: TestClient, world: Callable[..., World], engine: Engine) -> RevealWorld:
    return build_reveal_world(
        client,
        world,
        engine,
        policy=TWO_APPROVALS,
        extra_users=(("approver2-b", "approver", "b"),),
    )


def refused(response: object, code: str) -> None:
    assert getattr(response, "status_code", None) == 403, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    assert body["detail"]  # the reason, for people


def denied_codes(rw: RevealWorld, action: str) -> list[str | None]:
    return [e.outcome.reason for e in rw.log(action) if e.outcome.result == "denied"]


def test_self_approval_is_refused_and_logged(rw: RevealWorld) -> None:
    request = rw.request(who="approver-a").json()
    refused(rw.decide(request["id"], "approver-a"), "self_approval")
    refused(rw.decide(request["id"], "approver-a", "deny"), "self_approval")
    assert denied_codes(rw, "reveal.approve") == ["self_approval"]
    assert denied_codes(rw, "reveal.deny") == ["self_approval"]


def test_one_person_approves_once(rw: RevealWorld) -> None:
    request = rw.request().json()
    first = rw.decide(request["id"], "approver-b")
    assert first.status_code == 200 and first.json()["status"] == "pending"  # 1 of 2
    refused(rw.decide(request["id"], "approver-b"), "already_approved")
    # Approving and then denying is deciding twice as well.
    refused(rw.decide(request["id"], "approver-b", "deny"), "already_approved")
    second = rw.decide(request["id"], "approver2-b")
    assert second.json()["status"] == "approved"
    assert [d["company"] for d in second.json()["decisions"]] == ["b", "b"]
    assert denied_codes(rw, "reveal.approve") == ["already_approved"]
    assert denied_codes(rw, "reveal.deny") == ["already_approved"]


def test_approval_from_the_wrong_side_is_refused(rw: RevealWorld) -> None:
    request = rw.request().json()  # investigator-a; the policy wants approvers at b
    refused(rw.decide(request["id"], "approver-a"), "wrong_side")
    refused(rw.decide(request["id"], "investigator-b"), "role_may_not_approve")
    # A company outside the hit does not even see the request.
    assert rw.decide(request["id"], "approver-c").status_code == 404
    assert denied_codes(rw, "reveal.approve") == ["wrong_side", "role_may_not_approve"]
    assert [e.outcome.reason for e in rw.log("access.denied")] == ["not-found"]


def test_approval_after_expiry_is_refused_and_the_expiry_logged(rw: RevealWorld) -> None:
    request = rw.request().json()
    rw.clock.advance(hours=168, seconds=1)
    refused(rw.decide(request["id"], "approver-b"), "request_expired")
    shown = rw.call("GET", f"/v1/reveal-requests/{request['id']}", "investigator-a").json()
    assert shown["status"] == "expired"
    [expiry] = rw.log("reveal.expire")
    assert expiry.request_id == request["id"] and expiry.actor.role == "system"
    assert denied_codes(rw, "reveal.approve") == ["request_expired"]


def test_disclosure_only_for_the_requester_and_only_within_its_ttl(rw: RevealWorld) -> None:
    request = rw.request().json()
    rw.decide(request["id"], "approver-b")
    rw.decide(request["id"], "approver2-b")
    for other in ("approver-b", "investigator-b", "approver-a"):
        refused(rw.disclosure(request["id"], other), "not_requester")
    assert rw.disclosure(request["id"], "investigator-c").status_code == 404
    assert rw.disclosure(request["id"]).status_code == 200

    rw.clock.advance(hours=72, seconds=1)
    late = rw.disclosure(request["id"])
    refused(late, "disclosure_expired")
    assert "72 hours" in late.json()["detail"]
    assert denied_codes(rw, "disclosure.read") == [
        "not_requester",
        "not_requester",
        "not_requester",
        "disclosure_expired",
    ]
    assert [e.outcome.result for e in rw.log("disclosure.read")].count("allowed") == 1
