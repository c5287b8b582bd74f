"""Authentication (401 with WWW-Authenticate), role checks (403) on every route, the
unauthenticated probes and docs, and the admin API for companies and users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from matcher.api.problems import PROBLEM_BASE
from tests.matcher.factories import World, auth, public_pem

ROUTES = [
    ("GET", "/v1/companies"),
    ("POST", "/v1/companies"),
    ("GET", "/v1/users"),
    ("POST", "/v1/users"),
    ("POST", "/v1/users/x/revoke"),
    ("GET", "/v1/extracts"),
    ("POST", "/v1/extracts"),
    ("GET", "/v1/extracts/x"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs/x"),
    ("GET", "/v1/hits"),
    ("GET", "/v1/hits/1"),
]

# Which roles each route admits; every other role gets 403.
ADMITS = {
    "/v1/companies": {"admin"},
    # company administrators too, for their own company's people (test_company_admin.py)
    "/v1/users": {"admin", "company_admin"},
    "/v1/users/x/revoke": {"admin", "company_admin"},
    "/v1/extracts": {"admin", "data_officer"},
    "/v1/extracts/x": {"admin", "data_officer"},
    "/v1/runs": {"admin"},
    "/v1/runs/x": {"admin"},
    "/v1/hits": {"investigator", "approver"},
    "/v1/hits/1": {"investigator", "approver"},
}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_valid_token(
    client: TestClient, world: Callable[..., World], method: str, path: str
) -> None:
    w = world(("a",))
    client.post("/v1/users/data_officer-a/revoke", headers=auth(w.admin_token))
    revoked = w.companies["a"].tokens["data_officer"]
    for headers in ({}, auth("cc_" + "A" * 43), auth(revoked), {"Authorization": "Basic eDp5"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["type"] == PROBLEM_BASE + "unauthenticated"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_wrong_role_is_403(
    client: TestClient, world: Callable[..., World], method: str, path: str
) -> None:
    w = world(("a",))
    key = path if path in ADMITS else path.rsplit("/", 1)[0]
    tokens = {"admin": w.admin_token, "auditor": w.auditor_token, **w.companies["a"].tokens}
    for role, token in tokens.items():
        if role in ADMITS[path if path in ADMITS else key]:
            continue
        response = client.request(method, path, headers=auth(token))
        assert response.status_code == 403, (role, path, response.text)
        assert response.json()["type"] == PROBLEM_BASE + "forbidden"


def test_probes_and_docs_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/extracts" in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/v1/extracts"]["post"]["requestBody"]["content"]


def test_admin_registers_company_and_users_token_shown_once(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world(())
    admin = auth(w.admin_token)
    key = public_pem(Ed25519PrivateKey.generate())
    created = client.post(
        "/v1/companies",
        json={"id": "linbo", "name": "Linköpings Bostäder", "signing_public_key": key},
        headers=admin,
    )
    assert created.status_code == 201
    assert created.json()["id"] == "linbo"
    again = client.post(
        "/v1/companies", json={"id": "linbo", "name": "X", "signing_public_key": key}, headers=admin
    )
    assert again.status_code == 409
    not_ed25519 = client.post(
        "/v1/companies", json={"id": "x", "name": "X", "signing_public_key": "nope"}, headers=admin
    )
    assert not_ed25519.status_code == 422
    assert [c["id"] for c in client.get("/v1/companies", headers=admin).json()] == ["linbo"]

    user = client.post(
        "/v1/users",
        json={"name": "eva", "role": "investigator", "company_id": "linbo"},
        headers=admin,
    )
    assert user.status_code == 201
    token = user.json()["token"]
    assert token.startswith("cc_") and len(token) == 46
    listed = client.get("/v1/users", headers=admin).json()
    assert all("token" not in u for u in listed)
    assert token not in str(listed)
    assert client.get("/v1/hits", headers=auth(token)).status_code == 200

    revoked = client.post("/v1/users/eva/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/v1/hits", headers=auth(token)).status_code == 401
    assert client.post("/v1/users/nobody/revoke", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"name": "x", "role": "investigator"}, 422),  # company role without company
        ({"name": "x", "role": "auditor", "company_id": "a"}, 422),  # global role with one
        ({"name": "x", "role": "superuser"}, 422),
        ({"name": "x", "role": "approver", "company_id": "nope"}, 422),
        ({"name": "admin", "role": "auditor"}, 409),  # the first admin exists already
    ],
)
def test_bad_users_are_refused(
    client: TestClient, world: Callable[..., World], payload: dict[str, str], status: int
) -> None:
    w = world(("a",))
    response = client.post("/v1/users", json=payload, headers=auth(w.admin_token))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
