"""Requests per second of ``GET /v1/hits`` and of the review queue page with 1, 2 and 4
``matcher serve`` worker processes on PostgreSQL.

The world is three seeded synthetic companies (the e2e story's registers, 3,000 records each)
uploaded through the real connector and one matching run. The load is a bounded httpx loop on
127.0.0.1: ``CLIENTS`` threads, each with its own keep-alive connection, for ``SECONDS`` per
measurement, every answer checked for 200. The clients share the machine's two cores with the
server, so the figures are a floor for a machine where the load comes from elsewhere.

Run: ``.venv/bin/python -m pytest benchmarks/bench_workers.py --benchmark-only -s``. The
database is ``CROSSCHECK_BENCH_DATABASE_URL`` (default: the local PostgreSQL's ``test``
database, in a schema of its own that is dropped afterwards).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connectors.upload import upload_package
from demo.server import serving
from matcher.actions.runs import SHIPPED_POLICY
from matcher.settings import init_data_dir
from tests.e2e.story import AS_OF, bearer, prepare_companies

BASE_URL = os.environ.get(
    "CROSSCHECK_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLIENTS = 8
SECONDS = 5.0
RESULTS: dict[tuple[str, int], float] = {}


@pytest.fixture(scope="module")
def schema_url() -> Iterator[str]:
    schema = f"cc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(BASE_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no PostgreSQL here
        pytest.skip(f"needs PostgreSQL at {BASE_URL}: {type(exc).__name__}")
    url = make_url(BASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, schema_url: str) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bench-workers")
    settings, admin_token = init_data_dir(root / "matcher", schema_url)
    _, companies = prepare_companies(root, settings.reveal_public_key_path, records=3000)
    with (
        serving(settings.data_dir, root / "setup.log") as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        admin = bearer(admin_token)
        investigator = ""
        for company in companies:
            made = client.post(
                "/v1/companies",
                json={
                    "id": company.company_id,
                    "name": company.company_id,
                    "signing_public_key": (company.workspace / "signing.pub").read_text(),
                },
                headers=admin,
            )
            assert made.status_code == 201, made.text
            tokens = {}
            for role in ("data_officer", "investigator"):
                user = client.post(
                    "/v1/users",
                    json={"name": f"{company.company_id}-{role}", "role": role,
                          "company_id": company.company_id},
                    headers=admin,
                )  # fmt: skip
                assert user.status_code == 201, user.text
                tokens[role] = user.json()["token"]
            upload_package(company.package, client=client, token=tokens["data_officer"])
            investigator = investigator or tokens["investigator"]
        policy = client.post(
            "/v1/policies",
            content=SHIPPED_POLICY.read_bytes(),
            headers={**admin, "Content-Type": "application/toml"},
        )
        assert policy.status_code == 201, policy.text
        run = client.post("/v1/runs", json={"run_date": AS_OF}, headers=admin).json()
        while run["status"] not in ("succeeded", "failed"):
            time.sleep(0.2)
            run = client.get(f"/v1/runs/{run['id']}", headers=admin).json()
        assert run["status"] == "succeeded" and run["counts"]["hits"] > 0
    return {"root": root, "data_dir": settings.data_dir, "investigator": investigator}


def _signed_in(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/web/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    done = client.post("/web/sign-in", data={"token": token, "csrf_token": csrf.group(1)})
    assert done.status_code == 303, done.text
    return client


def _load(url: str, token: str, path: str) -> float:
    """Requests per second of ``path`` from CLIENTS threads for SECONDS."""
    counts = [0] * CLIENTS
    failures: list[int] = []
    start = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def client_loop(index: int) -> None:
        if path.startswith("/web/"):
            client = _signed_in(url, token)
        else:
            client = httpx.Client(base_url=url, timeout=30, headers=bearer(token))
        with client:
            start.wait()
            while not stop.is_set():
                status = client.get(path).status_code
                if status != 200:
                    failures.append(status)
                counts[index] += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    assert not failures, failures[:5]
    return sum(counts) / elapsed


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("path", ["/v1/hits?limit=50", "/web/queue"])
def test_requests_per_second(benchmark, world: dict[str, Any], workers: int, path: str) -> None:  # type: ignore[no-untyped-def]
    root: Path = world["root"]
    log = root / f"serve-{workers}.log"
    with serving(world["data_dir"], log, extra=["--workers", str(workers)]) as url:
        # Let every process start (uvicorn spawns them after the socket is ready).
        time.sleep(1.0 + 0.5 * workers)
        rps = benchmark.pedantic(
            _load, args=(url, world["investigator"], path), rounds=1, iterations=1
        )
    RESULTS[(path, workers)] = rps
    print(f"\n{path} with {workers} worker(s): {rps:,.0f} requests/s ({CLIENTS} clients)")
