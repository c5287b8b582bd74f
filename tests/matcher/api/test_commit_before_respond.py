"""Commit before respond (issue 10, item 1), against a real crash.

A real ``matcher serve`` is driven over loopback. The moment the client has the response's
status line and headers (httpx streaming, before the body is read), the server's process group
is frozen (SIGSTOP) and killed (SIGKILL). Whenever the client saw success, the change and its
audit entry must be in the database: a disclosure that left must have its ``disclosure.read``,
an approval answered 200 must not be back to pending. With the request-scoped dependency the
COMMIT ran after the response had been sent, and this test failed (the entries were missing).
Runs on SQLite and PostgreSQL (``CROSSCHECK_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError

from demo.server import free_port
from matcher.api.deps import connection
from matcher.store import audit
from matcher.store.tables import disclosure_reads, extracts, outcomes, reveal_requests, runs, users
from tests.matcher.factories import World, auth
from tests.matcher.reveal_kit import RUN_DATE, build_reveal_world, sealed_package


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def crash(self) -> None:
        """Freeze, then kill, the whole process group: no handler, no flush, no exit code."""
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGSTOP)
        os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "matcher.cli.main", "serve", "--data-dir", str(data_dir)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the crash takes every worker
        )
    server = Server(url, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"matcher serve exited early; see {log}"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"matcher serve did not start; see {log}"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            server.crash()


def crash_on_status(server: Server, method: str, path: str, token: str, **kwargs: Any) -> int:
    """Send one request; kill the server as soon as its status line has arrived."""
    with (
        httpx.Client(base_url=server.url, timeout=120) as client,
        client.stream(method, path, headers=auth(token), **kwargs) as response,
    ):
        status = response.status_code  # headers are in; the body is not read
        server.crash()
    return status


def entries(engine: Engine, action: str) -> list[audit.AuditEntry]:
    with engine.connect() as conn:
        return audit.entries(conn, audit.EntryFilter(action=action), limit=100_000).items


def test_success_seen_by_the_client_survives_a_crash_at_once(
    client: TestClient, world: Callable[..., World], engine: Engine, tmp_path: Path
) -> None:
    rw = build_reveal_world(client, world, engine)
    w = rw.world
    data_dir = w.settings.data_dir
    log = tmp_path / "serve.log"
    request = rw.request()
    assert request.status_code == 201, request.text
    request_id = request.json()["id"]

    def crashed(method: str, path: str, who: str, **kwargs: Any) -> int:
        with serving(data_dir, log) as server:
            return crash_on_status(server, method, path, rw.token(who), **kwargs)

    # An approval answered 200 is stored with its entry (not back to pending).
    status = crashed(
        "POST", f"/v1/reveal-requests/{request_id}/approve", "approver-b",
        json={"reason": "the justification matches the case"},
    )  # fmt: skip
    assert status == 200
    with engine.connect() as conn:
        stored = conn.execute(
            select(reveal_requests.c.status).where(reveal_requests.c.id == request_id)
        ).scalar_one()
    assert stored == "approved"
    assert [e.request_id for e in entries(engine, "reveal.approve")] == [request_id]

    # A disclosure that reached the client has its read row and disclosure.read entry.
    status = crashed("GET", f"/v1/reveal-requests/{request_id}/disclosure", "investigator-a")
    assert status == 200
    with engine.connect() as conn:
        reads = conn.execute(
            select(disclosure_reads.c.id).where(disclosure_reads.c.request_id == request_id)
        ).all()
    assert len(reads) == 1
    assert len(entries(engine, "disclosure.read")) == 1

    # An outcome.
    status = crashed(
        "POST", f"/v1/hits/{rw.hit_id}/outcome", "investigator-a",
        json={"outcome": "data_error", "note": "register corrected"},
    )  # fmt: skip
    assert status == 201
    with engine.connect() as conn:
        assert conn.execute(select(outcomes.c.id).where(outcomes.c.hit_id == rw.hit_id)).all()
    assert len(entries(engine, "hit.outcome")) == 1

    # A user change.
    status = crashed("POST", "/v1/users", "admin", json={"name": "new-auditor", "role": "auditor"})
    assert status == 201
    with engine.connect() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.name == "new-auditor")).scalar_one()
    assert any(e.object_ids.get("user") == str(user_id) for e in entries(engine, "user.create"))

    # An upload.
    kit = w.companies["c"]
    public_pem = w.settings.reveal_public_key_path.read_bytes()
    package = sealed_package(kit, w.reveal_fingerprint, public_pem, person=False)
    status = crashed("POST", "/v1/extracts", "data_officer-c", files=package.files())
    assert status == 201
    extract_id = str(package.manifest.extract_id)
    with engine.connect() as conn:
        assert conn.execute(select(extracts.c.id).where(extracts.c.id == extract_id)).all()
    accepted = entries(engine, "upload.accept")
    assert any(e.object_ids.get("extract") == extract_id for e in accepted)

    # A queued run.
    before = len(entries(engine, "run.queue"))
    status = crashed("POST", "/v1/runs", "admin", json={"run_date": RUN_DATE.isoformat()})
    assert status == 202
    with engine.connect() as conn:
        assert len(conn.execute(select(runs.c.id)).all()) == 2
    assert len(entries(engine, "run.queue")) == before + 1


def _connection_scopes(dependant: Any) -> Iterator[str | None]:
    for sub in dependant.dependencies:
        if sub.call is connection:
            yield sub.scope
        yield from _connection_scopes(sub)


def _api_routes(routes: Any) -> Iterator[Any]:
    # FastAPI keeps included routers as branches; walk into them.
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _api_routes(inner.routes) if inner is not None else (route,)


def test_every_route_and_page_commits_before_it_responds(client: TestClient) -> None:
    """No route or page may take the request's connection with the default (request) scope,
    which would commit after the response left."""
    using = {}
    for route in _api_routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            scopes = set(_connection_scopes(route.dependant))
            if scopes:
                using[f"{sorted(route.methods)} {route.path}"] = scopes
    assert any("/web/" in path for path in using), using
    assert any("/v1/" in path for path in using), using
    assert {path: s for path, s in using.items() if s != {"function"}} == {}


def test_a_failed_commit_answers_500_and_no_data(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    """The disclosure's COMMIT fails (the database went away at that moment): the client gets
    a problem+json 500, not the fields, and neither the read row nor its entry exists."""
    rw = build_reveal_world(client, world, engine)
    request_id = rw.request().json()["id"]
    assert rw.decide(request_id, "approver-b").status_code == 200
    state = client.app.state.matcher  # type: ignore[attr-defined]

    def commit_fails() -> Iterator[Connection]:
        with state.engine.connect() as conn:
            conn.begin()
            yield conn
            conn.rollback()
            raise OperationalError("COMMIT", {}, Exception("the database went away"))

    client.app.dependency_overrides[connection] = commit_fails  # type: ignore[attr-defined]
    try:
        with TestClient(client.app, raise_server_exceptions=False) as failing:  # type: ignore[arg-type]
            response = failing.get(
                f"/v1/reveal-requests/{request_id}/disclosure",
                headers=auth(rw.token("investigator-a")),
            )
    finally:
        del client.app.dependency_overrides[connection]  # type: ignore[attr-defined]
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "fields" not in response.json()
    assert entries(engine, "disclosure.read") == []
    with engine.connect() as conn:
        assert conn.execute(select(disclosure_reads.c.id)).all() == []
    assert rw.disclosure(request_id).status_code == 200  # and it works once the database does
