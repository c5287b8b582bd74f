"""Policies over the API: a file with problems is refused with every problem and its key path,
one version per policy id is active, retiring stops runs, and the published rules are readable
by the roles that work with hits (not by data officers)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from matcher.actions.runs import SHIPPED_POLICY
from matcher.api.problems import PROBLEM_BASE
from matcher.store import audit
from tests.matcher.factories import World, auth, run_to_end

SHIPPED = SHIPPED_POLICY.read_bytes()


def audit_log(client: TestClient, w: World) -> list[dict]:
    page = client.get("/v1/audit/entries", params={"limit": 1000}, headers=auth(w.auditor_token))
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def _version(raw: bytes, version: str) -> bytes:
    return re.sub(rb'(?m)^version = "[^"]*"', f'version = "{version}"'.encode(), raw, count=1)


SHIPPED_VERSION = re.search(rb'(?m)^version = "([^"]*)"', SHIPPED).group(1).decode()  # type: ignore[union-attr]


def test_a_policy_with_problems_is_refused_with_every_problem(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    broken = SHIPPED.replace(b"approvals_required = 1", b"approvals_required = 0").replace(
        b"min = 0.95 ", b"min = 1.5  "
    )
    response = client.post("/v1/policies", content=broken, headers=auth(w.admin_token))
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "invalid-policy"
    paths = {p["path"] for p in body["problems"]}
    assert {"reveal.approvals_required", "rules[1].min"} <= paths
    listed = client.get("/v1/policies", headers=auth(w.admin_token)).json()
    assert listed == []
    [refusal] = [e for e in audit_log(client, w) if e["action"] == "policy.activate"]
    assert refusal["outcome"]["result"] == "denied"
    assert refusal["outcome"]["reason"].startswith("invalid-policy")

    draft = SHIPPED.replace(b'status = "active"', b'status = "draft" ')
    refused = client.post("/v1/policies", content=draft, headers=auth(w.admin_token))
    assert refused.status_code == 422 and refused.json()["problems"][0]["path"] == "status"


def test_activation_retires_the_previous_version_and_is_published(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    admin = auth(w.admin_token)
    first = client.post("/v1/policies", content=SHIPPED, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["digest"] == "sha256:" + hashlib.sha256(SHIPPED).hexdigest()
    assert client.post("/v1/policies", content=SHIPPED, headers=admin).status_code == 200

    second = client.post("/v1/policies", content=_version(SHIPPED, "9.0.0"), headers=admin)
    assert second.status_code == 201
    investigator = auth(w.companies["a"].tokens["investigator"])
    listed = client.get("/v1/policies", headers=investigator).json()
    assert [(p["version"], p["status"]) for p in listed] == [
        ("9.0.0", "active"),
        (SHIPPED_VERSION, "retired"),
    ]
    assert listed[0]["gdpr_article"].startswith("Art. 6(1)(e)")
    assert "lagen (2018:218)" in listed[0]["national_statute"]
    assert listed[0]["purpose"].startswith("Detect first-hand tenancy contracts")
    for role in ("approver",):
        assert client.get("/v1/policies", headers=auth(w.companies["b"].tokens[role])).is_success
    assert client.get("/v1/policies", headers=auth(w.auditor_token)).is_success
    officer = auth(w.companies["a"].tokens["data_officer"])
    assert client.get("/v1/policies", headers=officer).status_code == 403

    # The same version with other text is a conflict: every edit needs a new version.
    edited = SHIPPED.replace(b"request_ttl_hours = 168", b"request_ttl_hours = 100")
    assert client.post("/v1/policies", content=edited, headers=admin).status_code == 409

    with engine.connect() as conn:
        changes = [
            (e.action, e.object_ids["version"])
            for e in audit.entries(conn).items
            if e.action in ("policy.activate", "policy.retire") and e.outcome.reason is None
        ]
    assert changes == [
        ("policy.activate", SHIPPED_VERSION),
        ("policy.retire", SHIPPED_VERSION),
        ("policy.activate", "9.0.0"),
    ]


def test_retiring_the_policy_stops_runs(client: TestClient, world: Callable[..., World]) -> None:
    w = world()
    admin = auth(w.admin_token)
    client.post("/v1/policies", content=SHIPPED, headers=admin)
    assert run_to_end(client, w.admin_token, "2026-03-01")["status"] == "succeeded"
    retired = client.post("/v1/policies/concurrent-tenancy/retire", headers=admin)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    refused = client.post("/v1/runs", json={"run_date": "2026-03-01"}, headers=admin)
    assert refused.status_code == 409
    assert "matcher policies activate FILE" in refused.json()["detail"]
    again = client.post("/v1/policies/concurrent-tenancy/retire", headers=admin)
    assert again.status_code == 404
    approver = auth(w.companies["a"].tokens["approver"])
    assert client.post("/v1/policies", content=SHIPPED, headers=approver).status_code == 403
