"""A company's signing key changes (issue 15): rotation with an overlap, revocation of a
compromised key at once; through the API and the CLI, SQLite and PostgreSQL. What a data
officer notices: which packages still upload, and the refusal that says why not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from matcher.cli.main import main as matcher
from matcher.store import audit
from matcher.store.tables import company_previous_keys
from tests.matcher.factories import CompanyKit, World, auth, public_pem


def _upload(client: TestClient, w: World, kit: CompanyKit, seed: int) -> tuple[int, str]:
    package = kit.package(w.reveal_fingerprint, rows=3, seed=seed, as_of=date(2026, 3, seed))
    response = client.post(
        "/v1/extracts", files=package.files(), headers=auth(kit.tokens["data_officer"])
    )
    return response.status_code, response.text


def _rekey(
    client: TestClient, w: World, company: str, key: Ed25519PrivateKey, **body: object
) -> httpx.Response:
    return client.post(
        f"/v1/companies/{company}/signing-key",
        json={"signing_public_key": public_pem(key), **body},
        headers=auth(w.admin_token),
    )


def test_rotation_accepts_both_keys_during_the_overlap_and_only_the_new_after(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    old = w.companies["a"]
    new_key = Ed25519PrivateKey.generate()
    assert _rekey(client, w, "a", new_key, overlap_days=14).status_code == 200
    new = CompanyKit("a", new_key, old.tokens)
    assert _upload(client, w, old, 2)[0] == 201  # signed before the switch: still accepted
    assert _upload(client, w, new, 3)[0] == 201
    with engine.begin() as conn:  # the overlap ends
        conn.execute(update(company_previous_keys).values(accepted_until=audit.utcnow()))
    status, text = _upload(client, w, old, 4)
    assert status == 422 and "bad-signature" in text and "previous key" in text
    # the same key twice is no rotation
    again = _rekey(client, w, "a", new_key)
    assert again.status_code == 422 and "used before" in again.text
    assert _rekey(client, w, "a", Ed25519PrivateKey.generate(), overlap_days=91).status_code == 422


def test_a_revoked_key_is_refused_at_once_saying_so(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    old = w.companies["a"]
    assert _rekey(client, w, "a", Ed25519PrivateKey.generate(), compromised=True).status_code == 200
    status, text = _upload(client, w, old, 2)
    assert status == 422 and "signing-key-revoked" in text and "compromised" in text
    entries = client.get(
        "/v1/audit/entries", params={"action": "company.key_revoke"}, headers=auth(w.auditor_token)
    ).json()["items"]
    assert [e["object"] for e in entries] == [{"company": "a"}]
    rejected = client.get(
        "/v1/audit/entries", params={"action": "upload.reject"}, headers=auth(w.auditor_token)
    ).json()["items"]
    assert rejected[-1]["outcome"] == {"result": "denied", "reason": "signing-key-revoked"}


def test_the_cli_rotates_and_revokes_the_same_way(
    client: TestClient, world: Callable[..., World], tmp_path: Path
) -> None:
    w = world()
    d = ("--data-dir", str(w.settings.data_dir))
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    (tmp_path / "first.pub").write_text(public_pem(first), encoding="ascii")
    (tmp_path / "second.pub").write_text(public_pem(second), encoding="ascii")
    assert matcher(["-q", "companies", "rotate-key", "a", "--signing-key",
                    str(tmp_path / "first.pub"), "--overlap-days", "1", *d]) == 0  # fmt: skip
    assert _upload(client, w, w.companies["a"], 2)[0] == 201  # the original, in its overlap
    assert matcher(["-q", "companies", "revoke-key", "a", "--signing-key",
                    str(tmp_path / "second.pub"), *d]) == 0  # fmt: skip
    # revoking ends every older key's overlap too
    assert "signing-key-revoked" in _upload(client, w, w.companies["a"], 3)[1]
    tokens = w.companies["a"].tokens
    assert "signing-key-revoked" in _upload(client, w, CompanyKit("a", first, tokens), 4)[1]
    assert _upload(client, w, CompanyKit("a", second, tokens), 5)[0] == 201
    private = tmp_path / "private.pem"  # a private key by mistake: refused, nothing changed
    private.write_bytes(
        second.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert matcher(["-q", "companies", "rotate-key", "a", "--signing-key", str(private), *d]) == 1
