"""POST/GET /v1/extracts: accepted packages, idempotent retries, supersession, every rejection
(with nothing stored and the previous extract still active), and who sees which extract."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from matcher.api.problems import PROBLEM_BASE
from matcher.store.tables import extracts
from tests.matcher.factories import World, auth, parquet_bytes


def stored_blobs(world: World) -> list[Path]:
    return [p for p in world.settings.blob_dir.rglob("*") if p.is_file()]


def extract_rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        query = select(extracts.c.id, extracts.c.company_id, extracts.c.status).order_by(
            extracts.c.created_at
        )
        return [tuple(r) for r in conn.execute(query)]


def upload(client: TestClient, world: World, company: str, package, role: str = "data_officer"):
    token = world.companies[company].tokens[role]
    return client.post("/v1/extracts", files=package.files(), headers=auth(token))


def test_upload_is_stored_content_addressed_and_listed(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    package = w.companies["a"].package(w.reveal_fingerprint, rows=30)
    response = upload(client, w, "a", package)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == str(package.manifest.extract_id)
    assert body["status"] == "active"
    assert body["rows"] == 30
    assert body["uploaded_by"] == "data_officer-a"
    assert body["as_of"] == "2026-03-01"
    sha = hashlib.sha256(package.records).hexdigest()
    blob = w.settings.blob_dir / sha[:2] / sha
    assert blob.read_bytes() == package.records
    assert not list((w.settings.blob_dir / "tmp").iterdir())
    listed = client.get("/v1/extracts", headers=auth(w.companies["a"].tokens["data_officer"]))
    assert [e["id"] for e in listed.json()] == [body["id"]]


def test_identical_package_again_returns_same_id_and_changes_nothing(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    package = w.companies["a"].package(w.reveal_fingerprint)
    first = upload(client, w, "a", package)
    before = extract_rows(engine)
    again = upload(client, w, "a", package)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert extract_rows(engine) == before
    assert len(stored_blobs(w)) == 1


def test_newer_extract_supersedes_the_active_one(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    kit = w.companies["a"]
    old = kit.package(w.reveal_fingerprint, as_of=date(2026, 3, 1), seed=1)
    new = kit.package(w.reveal_fingerprint, as_of=date(2026, 4, 1), seed=2)
    assert upload(client, w, "a", old).status_code == 201
    assert upload(client, w, "a", new).status_code == 201
    statuses = {row[0]: row[2] for row in extract_rows(engine)}
    assert statuses == {
        str(old.manifest.extract_id): "superseded",
        str(new.manifest.extract_id): "active",
    }


def _tampered(w: World):
    package = w.companies["a"].package(w.reveal_fingerprint)
    package.manifest = package.manifest.model_copy(update={"row_count": 21})
    return package


def _foreign(w: World):
    # Signed correctly by company b, uploaded with a's data officer token.
    return w.companies["b"].package(w.reveal_fingerprint)


def _unknown_company(w: World):
    return w.companies["a"].package(w.reveal_fingerprint, company_id="zzz")


def _wrong_reveal_key(w: World):
    return w.companies["a"].package("0" * 32)


def _truncated(w: World):
    package = w.companies["a"].package(w.reveal_fingerprint)
    cut = package.records[: len(package.records) // 2]
    manifest = package.manifest.model_copy(
        update={"records_sha256": hashlib.sha256(cut).hexdigest(), "signature": ""}
    )
    package.records, package.manifest = cut, w.companies["a"].sign(manifest)
    return package


def _hash_mismatch(w: World):
    package = w.companies["a"].package(w.reveal_fingerprint)
    package.records = package.records[:-1] + bytes([package.records[-1] ^ 1])
    return package


def _missing_column(w: World):
    kit = w.companies["a"]
    frame = kit.package(w.reveal_fingerprint).frame.drop("token_email")
    return kit.package(w.reveal_fingerprint, frame=frame)


def _wrong_dtype(w: World):
    kit = w.companies["a"]
    frame = kit.package(w.reveal_fingerprint).frame.with_columns(
        pl.col("contract_start").cast(pl.String)
    )
    return kit.package(w.reveal_fingerprint, frame=frame)


def _row_count(w: World):
    kit = w.companies["a"]
    package = kit.package(w.reveal_fingerprint)
    manifest = package.manifest.model_copy(update={"row_count": 999, "signature": ""})
    package.manifest = kit.sign(manifest)
    return package


def _old_contract(w: World):
    kit = w.companies["a"]
    package = kit.package(w.reveal_fingerprint)
    package.manifest = kit.sign(
        package.manifest.model_copy(update={"contract_version": "0", "signature": ""})
    )
    return package


def test_a_version_1_package_is_refused_with_what_to_do(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    # Version 1 filters leak names (issue 9): refused before its encoding is even validated.
    w = world()
    kit = w.companies["a"]
    package = kit.package(w.reveal_fingerprint)
    raw = package.manifest.model_dump(mode="json")
    raw.update(contract_version="1", encoding={**raw["encoding"], "scheme": "crosscheck-clk-v1"})
    files = {**package.files(), "manifest": ("manifest.json", json.dumps(raw).encode(), "x")}
    token = kit.tokens["data_officer"]
    response = client.post("/v1/extracts", files=files, headers=auth(token))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "unsupported-contract"
    assert "contract version 1" in problem["detail"]
    assert "upgrade the connector and make the extract again" in problem["detail"]
    assert extract_rows(engine) == []


REJECTIONS = [
    ("tampered manifest", _tampered, 422, "bad-signature"),
    ("another company's package", _foreign, 403, "foreign-company"),
    ("unregistered company", _unknown_company, 403, "foreign-company"),
    ("wrong reveal key", _wrong_reveal_key, 409, "reveal-key-mismatch"),
    ("unsupported contract", _old_contract, 422, "unsupported-contract"),
    ("truncated parquet", _truncated, 422, "bad-parquet"),
    ("records changed after signing", _hash_mismatch, 422, "integrity-mismatch"),
    ("row count differs", _row_count, 422, "integrity-mismatch"),
    ("missing column", _missing_column, 422, "schema-mismatch"),
    ("wrong column dtype", _wrong_dtype, 422, "schema-mismatch"),
]


@pytest.mark.parametrize(
    ("case", "make", "status", "slug"), REJECTIONS, ids=[r[0] for r in REJECTIONS]
)
def test_bad_package_is_rejected_and_nothing_stored(
    client: TestClient,
    world: Callable[..., World],
    engine: Engine,
    case: str,
    make: Callable[[World], object],
    status: int,
    slug: str,
) -> None:
    w = world()
    previous = w.companies["a"].package(w.reveal_fingerprint, as_of=date(2026, 1, 1), seed=99)
    assert upload(client, w, "a", previous).status_code == 201
    before, blobs_before = extract_rows(engine), stored_blobs(w)

    response = upload(client, w, "a", make(w))

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + slug
    assert problem["status"] == status
    assert extract_rows(engine) == before
    assert stored_blobs(w) == blobs_before
    active = [row for row in before if row[2] == "active"]
    assert active == [(str(previous.manifest.extract_id), "a", "active")]


def test_wrong_epoch_is_refused_and_names_the_other_company(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    assert upload(client, w, "b", w.companies["b"].package(w.reveal_fingerprint)).status_code == 201
    before = extract_rows(engine)
    response = upload(
        client, w, "a", w.companies["a"].package(w.reveal_fingerprint, epoch="epoch-2")
    )
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM_BASE + "incomparable-encoding"
    assert response.json()["company"] == "b"
    assert "company b" in response.json()["detail"]
    assert extract_rows(engine) == before


def test_replayed_old_package_after_a_newer_one_is_refused(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    kit = w.companies["a"]
    old = kit.package(w.reveal_fingerprint, as_of=date(2026, 3, 1), seed=1)
    new = kit.package(w.reveal_fingerprint, as_of=date(2026, 4, 1), seed=2)
    older = kit.package(w.reveal_fingerprint, as_of=date(2026, 2, 1), seed=3)
    assert upload(client, w, "a", old).status_code == 201
    assert upload(client, w, "a", new).status_code == 201
    before = extract_rows(engine)
    for replay in (old, older):
        response = upload(client, w, "a", replay)
        assert response.status_code == 409
        assert response.json()["type"] == PROBLEM_BASE + "replayed-package"
    assert extract_rows(engine) == before
    assert [r[0] for r in before if r[2] == "active"] == [str(new.manifest.extract_id)]


def test_oversized_body_is_413_by_header_and_by_stream(
    tmp_path: Path, world: Callable[..., World], engine: Engine
) -> None:
    from matcher.app import create_app

    w = world()
    small = w.settings.model_copy(update={"max_upload_bytes": 1000})
    package = w.companies["a"].package(w.reveal_fingerprint, rows=200)
    token = w.companies["a"].tokens["data_officer"]
    with TestClient(create_app(small)) as client:
        by_header = client.post("/v1/extracts", files=package.files(), headers=auth(token))

        def chunks():  # no Content-Length: the limit must hold while streaming
            body = b'--xx\r\nContent-Disposition: form-data; name="records"; filename="r"\r\n\r\n'
            yield body
            for _ in range(100):
                yield b"\0" * 1000
            yield b"\r\n--xx--\r\n"

        by_stream = client.post(
            "/v1/extracts",
            content=chunks(),
            headers={**auth(token), "Content-Type": "multipart/form-data; boundary=xx"},
        )
    assert by_header.status_code == 413
    assert by_stream.status_code == 413
    assert by_stream.json()["type"] == PROBLEM_BASE + "payload-too-large"
    assert extract_rows(engine) == []
    assert stored_blobs(w) == []


def test_missing_part_is_400(client: TestClient, world: Callable[..., World]) -> None:
    w = world()
    package = w.companies["a"].package(w.reveal_fingerprint)
    files = {"manifest": package.files()["manifest"]}
    response = client.post(
        "/v1/extracts", files=files, headers=auth(w.companies["a"].tokens["data_officer"])
    )
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "malformed-upload"


def test_extracts_are_visible_to_own_company_and_admin_only(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    a_id = upload(client, w, "a", w.companies["a"].package(w.reveal_fingerprint)).json()["id"]
    b_id = upload(client, w, "b", w.companies["b"].package(w.reveal_fingerprint)).json()["id"]
    officer_a = auth(w.companies["a"].tokens["data_officer"])
    assert client.get(f"/v1/extracts/{a_id}", headers=officer_a).status_code == 200
    other = client.get(f"/v1/extracts/{b_id}", headers=officer_a)
    assert other.status_code == 404
    assert other.json()["type"] == PROBLEM_BASE + "not-found"
    assert [e["id"] for e in client.get("/v1/extracts", headers=officer_a).json()] == [a_id]
    admin = client.get("/v1/extracts", headers=auth(w.admin_token)).json()
    assert sorted(e["id"] for e in admin) == sorted([a_id, b_id])
    investigator = auth(w.companies["a"].tokens["investigator"])
    assert client.get("/v1/extracts", headers=investigator).status_code == 403
    assert (
        upload(
            client,
            w,
            "a",
            w.companies["a"].package(w.reveal_fingerprint, seed=5),
            role="investigator",
        ).status_code
        == 403
    )


def test_rejection_messages_carry_no_record_values(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world()
    package = w.companies["a"].package(w.reveal_fingerprint)
    refs = package.frame["ref"].to_list()
    response = upload(client, w, "a", _row_count(w))
    assert response.status_code == 422
    assert not any(ref in response.text for ref in refs)
    assert extract_rows is not None
    _ = parquet_bytes, func
