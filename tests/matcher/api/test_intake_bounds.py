"""Uploads bounded by what is real (issue 10, item 2): a package's real rows and decoded size,
not its claims, are checked against the company's limits; bombs, future as-of dates and reused
data keys are refused with a problem, an ``upload.reject`` entry and nothing stored; a run
leaves an over-limit stored extract out and still matches the others."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from matcher.actions.runs import SHIPPED_POLICY, execute_run, load_rules
from matcher.api.problems import PROBLEM_BASE
from matcher.app import create_app
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.blobs import BlobStore
from matcher.store.extract_size import ExtractLimits
from matcher.store.tables import extracts
from tests.matcher.factories import (
    ENCODING,
    Package,
    Tenancy,
    World,
    auth,
    constant_records,
    package_of,
)

HOSTILE_ROWS = 20_000_000


@pytest.fixture(scope="session")
def hostile_records() -> bytes:
    """20 million identical rows, exact schema: about 3 MB."""
    return constant_records(ENCODING, HOSTILE_ROWS)


def upload(client: TestClient, w: World, company: str, package: Package):
    token = w.companies[company].tokens["data_officer"]
    return client.post("/v1/extracts", files=package.files(), headers=auth(token))


def last_entry(engine: Engine, action: str | None = None) -> audit.AuditEntry:
    with engine.connect() as conn:
        items = audit.entries(conn, audit.EntryFilter(action=action), limit=1000).items
    return items[-1]


def assert_refused(response, w: World, engine: Engine, status: int, slug: str, *words: str):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + slug
    for word in words:
        assert word in problem["detail"]
    with engine.connect() as conn:
        assert conn.execute(select(extracts.c.id)).all() == []
    last = last_entry(engine)
    assert (last.action, last.outcome.result, last.outcome.reason) == (
        "upload.reject",
        "denied",
        slug,
    )
    assert [p for p in w.settings.blob_dir.rglob("*") if p.is_file()] == []


def test_twenty_million_rows_announced_are_refused_before_the_records_arrive(
    client: TestClient, world: Callable[..., World], engine: Engine, hostile_records: bytes
) -> None:
    w = world()
    package = package_of(w.companies["a"], w.reveal_fingerprint, hostile_records, HOSTILE_ROWS)
    response = upload(client, w, "a", package)
    assert_refused(response, w, engine, 413, "extract-too-large", "20000000", "5000000")


def test_twenty_million_real_rows_behind_a_small_claim_are_refused(
    client: TestClient, world: Callable[..., World], engine: Engine, hostile_records: bytes
) -> None:
    w = world()
    # The manifest claims 1,000 rows (signed correctly); the file really holds 20 million.
    package = package_of(w.companies["a"], w.reveal_fingerprint, hostile_records, 1000)
    response = upload(client, w, "a", package)
    assert_refused(response, w, engine, 413, "extract-too-large", "max_extract_rows")


def test_a_compression_bomb_under_the_row_limit_is_refused(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    records = constant_records(ENCODING, 300_000)  # ~100 kB decoding to ~200 MB
    package = package_of(w.companies["a"], w.reveal_fingerprint, records, 300_000)
    response = upload(client, w, "a", package)
    assert_refused(response, w, engine, 422, "compression-bomb", "ratio over 20")


@pytest.fixture
def small_limits_client(settings: Settings) -> Iterator[TestClient]:
    strict = settings.model_copy(
        update={"max_extract_bytes": 50_000, "company_max_extract_rows": {"a": 25}}
    )
    with TestClient(create_app(strict)) as test_client:
        yield test_client


def test_limits_are_per_company_and_count_decoded_bytes(
    small_limits_client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    a = upload(small_limits_client, w, "a", w.companies["a"].package(w.reveal_fingerprint, rows=30))
    assert_refused(a, w, engine, 413, "extract-too-large", "company a", "25 rows")
    b = upload(
        small_limits_client, w, "b", w.companies["b"].package(w.reveal_fingerprint, rows=300)
    )
    assert b.status_code == 413 and "max_extract_bytes" in b.json()["detail"]
    ok = upload(
        small_limits_client, w, "b", w.companies["b"].package(w.reveal_fingerprint, rows=30)
    )
    assert ok.status_code == 201, ok.text


def test_an_as_of_date_after_tomorrow_is_refused_and_today_is_accepted(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    kit = w.companies["a"]
    future = kit.package(w.reveal_fingerprint, as_of=date(2099, 1, 1))
    assert_refused(upload(client, w, "a", future), w, engine, 422, "as-of-in-future", "2099-01-01")
    today = date.today()
    tomorrow = kit.package(w.reveal_fingerprint, as_of=today + timedelta(days=1), seed=2)
    assert upload(client, w, "a", tomorrow).status_code == 201  # within the clock tolerance
    later = kit.package(w.reveal_fingerprint, as_of=today + timedelta(days=3), seed=3)
    assert upload(client, w, "a", later).status_code == 422


def test_a_data_key_used_by_another_extract_is_refused(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    first = w.companies["a"].package(w.reveal_fingerprint)
    assert upload(client, w, "a", first).status_code == 201
    records = w.companies["b"].package(w.reveal_fingerprint).records
    copied = package_of(
        w.companies["b"], w.reveal_fingerprint, records, 20,
        wrapped_data_key=first.manifest.wrapped_data_key,
    )  # fmt: skip
    response = upload(client, w, "b", copied)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "data-key-reused"
    assert str(first.manifest.extract_id) in problem["detail"]
    with engine.connect() as conn:
        companies = [r.company_id for r in conn.execute(select(extracts.c.company_id))]
    assert companies == ["a"]
    last = last_entry(engine)
    assert (last.action, last.outcome.reason) == ("upload.reject", "data-key-reused")


def test_a_run_leaves_an_over_limit_extract_out_and_matches_the_others(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    shared = random.Random("bc").randbytes(32)
    planted = [Tenancy(shared, date(2025, 1, 1))]
    for company, rows in (("a", 400), ("b", 10), ("c", 10)):
        kit = w.companies[company]
        package = kit.package(
            w.reveal_fingerprint, rows=rows, planted=[] if company == "a" else planted
        )
        assert upload(client, w, company, package).status_code == 201

    # The limits were lowered after a's upload (or its blob was written past intake).
    def limits(company: str) -> ExtractLimits:
        return ExtractLimits(
            max_rows=100 if company == "a" else 10_000, max_bytes=10**9, max_ratio=20
        )

    run = execute_run(
        engine, BlobStore(w.settings.blob_dir), load_rules(SHIPPED_POLICY), date(2026, 3, 1),
        "admin", limits=limits,
    )  # fmt: skip
    assert run.status == "succeeded"
    assert run.counts["skipped"] == {"a": "extract-too-large"}
    assert run.counts["hits"] == 1  # b and c still matched
    skipped = last_entry(engine, "run.skip_extract")
    assert skipped.outcome.reason == "extract-too-large"
    assert skipped.object_ids["company"] == "a" and skipped.object_ids["run"] == run.id
