"""A company administrator manages the own company's people through the API, and nothing of
another company's: those people are not found, other roles can not be given."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.matcher.factories import World, auth


def test_a_company_administrator_sees_and_changes_only_their_own_people(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    own = auth(w.companies["a"].tokens["company_admin"])
    listed = client.get("/v1/users", headers=own)
    assert listed.status_code == 200
    assert {u["company_id"] for u in listed.json()} == {"a"}
    assert {u["name"] for u in listed.json()} >= {"investigator-a", "approver-a"}

    made = client.post(
        "/v1/users",
        json={"name": "new-investigator-a", "role": "investigator", "company_id": "a"},
        headers=own,
    )
    assert made.status_code == 201, made.text
    assert made.json()["token"]
    # a colleague who administers too: a company role
    colleague = {"name": "second-admin-a", "role": "company_admin", "company_id": "a"}
    assert client.post("/v1/users", json=colleague, headers=own).status_code == 201

    for body in (
        {"name": "x-c", "role": "investigator", "company_id": "c"},  # another company
        {"name": "x-admin", "role": "admin"},  # the operator's roles
        {"name": "x-auditor", "role": "auditor"},
    ):
        refused = client.post("/v1/users", json=body, headers=own)
        assert refused.status_code == 403, body
    # another company's people are not there for them, by name or session
    assert client.post("/v1/users/investigator-c/revoke", headers=own).status_code == 404
    assert client.get("/v1/users/investigator-c/sessions", headers=own).status_code == 404
    assert client.get("/v1/users/auditor/sessions", headers=own).status_code == 404
    # the own company's: yes
    assert client.get("/v1/users/investigator-a/sessions", headers=own).json() == []
    revoked = client.post("/v1/users/new-investigator-a/revoke", headers=own)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    # nothing of the operator's: companies, runs, policies
    assert client.get("/v1/companies", headers=own).status_code == 403
    assert client.post("/v1/runs", json={"run_date": "2026-03-01"}, headers=own).status_code == 403
    # still there for the operator's admin
    everyone = client.get("/v1/users", headers=auth(w.admin_token)).json()
    assert {"investigator-c", "new-investigator-a"} <= {u["name"] for u in everyone}
