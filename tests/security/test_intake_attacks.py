"""Attacks on upload intake against a real ``matcher serve`` on 127.0.0.1 (issue 10, item 2).

A data officer with a correctly signed package of the exact schema tries: 20 million rows
(announced, and hidden behind a small claim), a decompression bomb, an as-of date of 2099 to lock
the company out, and a data key copied from another extract; the hostile uploads repeat in a
bounded loop. Each is refused with its problem, nothing is stored, the server's memory stays
bounded, genuine packages are still accepted afterwards and ``matcher run`` still matches.
Fixtures are local to this file; SQLite always, PostgreSQL with CROSSCHECK_TEST_DATABASE_URL.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from demo.server import free_port
from matcher.actions.runs import SHIPPED_POLICY
from matcher.api.problems import PROBLEM_BASE
from matcher.cli.main import main as matcher
from matcher.crypto import reveal_key_fingerprint
from matcher.settings import Settings, init_data_dir
from matcher.store.companies import add_company
from matcher.store.database import create_database_engine
from matcher.store.tables import extracts
from matcher.store.users import add_user
from tests.matcher.factories import (
    ENCODING,
    CompanyKit,
    Package,
    Tenancy,
    auth,
    constant_records,
    package_of,
    public_pem,
)
from tests.security.conftest import database

HOSTILE_ROWS = 20_000_000
ROUNDS = 3  # bounded: an attack, not a load test
MAX_SERVER_RSS_MIB = 1024  # the server decodes one bounded batch at a time


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with database(request.param) as url:
        yield url


@dataclass
class Target:
    url: str
    pid: int
    settings: Settings
    fingerprint: str
    kits: dict[str, CompanyKit]

    def upload(self, company: str, package: Package) -> httpx.Response:
        token = self.kits[company].tokens["data_officer"]
        return httpx.post(
            f"{self.url}/v1/extracts", files=package.files(), headers=auth(token), timeout=120
        )

    def rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stored_companies(self) -> list[str]:
        engine = create_database_engine(self.settings.database_url)
        try:
            with engine.connect() as conn:
                return sorted(r.company_id for r in conn.execute(select(extracts.c.company_id)))
        finally:
            engine.dispose()


@pytest.fixture
def target(tmp_path: Path, database_url: str) -> Iterator[Target]:
    settings, _admin = init_data_dir(tmp_path / "data", database_url or None)
    engine = create_database_engine(settings.database_url)
    kits = {}
    with engine.begin() as conn:
        for cid in ("a", "b"):
            key = Ed25519PrivateKey.from_private_bytes(random.Random(f"sec-{cid}").randbytes(32))
            add_company(conn, cid, f"Company {cid.upper()}", public_pem(key))
            tokens = {"data_officer": add_user(conn, f"officer-{cid}", "data_officer", cid)[1]}
            kits[cid] = CompanyKit(cid, key, tokens)
    engine.dispose()
    fingerprint = reveal_key_fingerprint(settings.reveal_public_key_path.read_bytes())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "matcher.cli.main", "serve", "--data-dir", str(settings.data_dir)]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*argv, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "matcher serve exited early"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "matcher serve did not start"
            time.sleep(0.1)
        yield Target(url, process.pid, settings, fingerprint, kits)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def hostile_records() -> bytes:
    return constant_records(ENCODING, HOSTILE_ROWS)


def refused(response: httpx.Response, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + slug
    return str(problem["detail"])


def test_hostile_packages_are_refused_and_the_service_keeps_matching(
    target: Target, hostile_records: bytes
) -> None:
    a = target.kits["a"]
    fp = target.fingerprint
    bomb = constant_records(ENCODING, 300_000)
    for round_ in range(ROUNDS):
        announced = package_of(a, fp, hostile_records, HOSTILE_ROWS, seed=10 + round_)
        started = time.monotonic()
        refused(target.upload("a", announced), 413, "extract-too-large")
        assert time.monotonic() - started < 30
        hidden = package_of(a, fp, hostile_records, 1000, seed=20 + round_)
        assert "max_extract_rows" in refused(target.upload("a", hidden), 413, "extract-too-large")
        bombed = package_of(a, fp, bomb, 300_000, seed=30 + round_)
        refused(target.upload("a", bombed), 422, "compression-bomb")
        future = a.package(fp, as_of=date(2099, 1, 1), seed=40 + round_)
        refused(target.upload("a", future), 422, "as-of-in-future")
        assert target.rss_mib() < MAX_SERVER_RSS_MIB
    assert target.stored_companies() == []
    assert [p for p in target.settings.blob_dir.rglob("*") if p.is_file()] == []

    # Not locked out: genuine packages are accepted after the 2099 attempts.
    shared = random.Random("sec-shared").randbytes(32)
    genuine = {
        cid: target.kits[cid].package(fp, rows=50, planted=[Tenancy(shared, date(2025, 1, 1))])
        for cid in ("a", "b")
    }
    for cid, package in genuine.items():
        assert target.upload(cid, package).status_code == 201
    # b copies a's wrapped data key into its own, correctly signed, manifest.
    copied = package_of(
        target.kits["b"], fp, genuine["b"].records, genuine["b"].frame.height, seed=99,
        as_of=date(2026, 3, 2), wrapped_data_key=genuine["a"].manifest.wrapped_data_key,
    )  # fmt: skip
    refused(target.upload("b", copied), 409, "data-key-reused")
    assert target.stored_companies() == ["a", "b"]

    data_dir = str(target.settings.data_dir)
    assert matcher(["-q", "policies", "activate", str(SHIPPED_POLICY), "--data-dir", data_dir]) == 0
    assert matcher(["-q", "run", "--data-dir", data_dir, "--run-date", "2026-03-01"]) == 0
