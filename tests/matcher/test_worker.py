"""Background runs: the queue, the worker, the leases, a worker killed mid-run, retries.

The kill test runs a real worker in a child process (a slow engine keeps it matching), kills it
with SIGKILL, then starts ``matcher worker --once`` as a new process: it must mark the run
failed (interrupted) at once, with nothing of it stored, and the run can then be retried
through the API. Everything runs on SQLite and on PostgreSQL (``database_url``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from matcher.actions.runs import SHIPPED_POLICY, queue_run
from matcher.actions.worker import Worker
from matcher.app import create_app
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.database import utcnow
from matcher.store.tables import hits
from tests.matcher.api.test_api_runs_hits import activate_shipped, planted_world, upload_all
from tests.matcher.factories import World, auth, wait_for_run

RUN_DATE = "2026-03-01"


@pytest.fixture
def quiet_client(settings: Settings) -> Iterator[TestClient]:
    """The app without its own background worker: the test decides who works the queue."""
    app = create_app(settings.model_copy(update={"run_worker": False}))
    with TestClient(app) as test_client:
        yield test_client


def _entries(engine: Engine, action: str) -> list[audit.AuditEntry]:
    with engine.connect() as conn:
        return list(audit.entries(conn, audit.EntryFilter(action=action)).items)


def _hit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(hits)).scalar_one())


def _queue(client: TestClient, w: World) -> dict:
    response = client.post("/v1/runs", json={"run_date": RUN_DATE}, headers=auth(w.admin_token))
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["stage"] == "queued"
    return queued


_SLOW_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from matcher.actions.worker import Worker
    from matcher.settings import load_settings
    from matcher.store.database import create_database_engine

    marker = Path(sys.argv[2])

    def slow(frames, rules, run_date):
        marker.write_text("matching")
        time.sleep(600)  # killed long before

    settings = load_settings(Path(sys.argv[1]))
    Worker(create_database_engine(settings.database_url), settings, find=slow).run_all()
    """
)


def test_a_killed_worker_leaves_its_run_failed_at_the_next_start_and_the_run_retries(
    quiet_client: TestClient,
    world: Callable[..., World],
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    client, w = quiet_client, world()
    upload_all(client, w, planted_world())
    activate_shipped(client, w.admin_token)
    # A long lease: the next start must not wait for it (the killed holder was on this machine).
    with (settings.data_dir / "matcher.toml").open("a") as toml:
        toml.write("run_lease_seconds = 600\n")
    queued = _queue(client, w)

    marker = tmp_path / "matching"
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WORKER, str(settings.data_dir), str(marker)]
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the worker died before matching"
            assert time.monotonic() < deadline, "the worker never started matching"
            time.sleep(0.05)
        running = client.get(f"/v1/runs/{queued['id']}", headers=auth(w.admin_token)).json()
        assert (running["status"], running["stage"]) == ("running", "matching")
        assert 0 < running["progress"] < 1
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()

    started = time.monotonic()
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "matcher.cli.main",
            "worker",
            "--once",
            "--data-dir",
            str(settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    assert time.monotonic() - started < 60  # did not wait out the 600-second lease
    failed = client.get(f"/v1/runs/{queued['id']}", headers=auth(w.admin_token)).json()
    assert failed["status"] == "failed"
    assert failed["error"].startswith("interrupted")
    assert _hit_count(engine) == 0  # nothing of the killed run is stored
    [finish] = _entries(engine, "run.finish")
    assert (finish.outcome.result, finish.outcome.reason) == ("denied", "interrupted")

    retried = client.post(f"/v1/runs/{queued['id']}/retry", headers=auth(w.admin_token))
    assert retried.status_code == 202, retried.text
    assert retried.json()["retry_of"] == queued["id"]
    done = wait_for_run(client, retried.json()["id"])
    assert done["status"] == "succeeded"
    assert done["counts"]["rules"]["concurrent-first-hand"] == {"strong": 1, "review": 0}
    assert _hit_count(engine) == 1
    queues = _entries(engine, "run.queue")
    assert [e.object_ids.get("retry_of") for e in queues] == [None, queued["id"]]


def test_only_failed_runs_can_be_retried(
    quiet_client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    client, w = quiet_client, world()
    activate_shipped(client, w.admin_token)
    queued = _queue(client, w)
    refused = client.post(f"/v1/runs/{queued['id']}/retry", headers=auth(w.admin_token))
    assert refused.status_code == 409
    assert "only a failed run can be retried" in refused.json()["detail"]
    assert wait_for_run(client, queued["id"])["status"] == "succeeded"
    again = client.post(f"/v1/runs/{queued['id']}/retry", headers=auth(w.admin_token))
    assert again.status_code == 409
    unknown = client.post("/v1/runs/no-such-run/retry", headers=auth(w.admin_token))
    assert unknown.status_code == 404


def test_a_run_whose_policy_was_retired_while_queued_fails_and_names_why(
    quiet_client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    client, w = quiet_client, world()
    activate_shipped(client, w.admin_token)
    queued = _queue(client, w)
    retired = client.post("/v1/policies/concurrent-tenancy/retire", headers=auth(w.admin_token))
    assert retired.status_code == 200
    shown = wait_for_run(client, queued["id"])
    assert shown["status"] == "failed" and shown["error"].startswith("policy_changed")
    [start] = _entries(engine, "run.start")
    assert (start.outcome.result, start.outcome.reason) == ("denied", "policy_changed")
    # A retry runs the policy active now: there is none, so it is refused at once.
    refused = client.post(f"/v1/runs/{queued['id']}/retry", headers=auth(w.admin_token))
    assert refused.status_code == 409 and refused.json()["type"].endswith("no-active-policy")


def test_only_the_holder_of_the_runs_lease_works_the_queue(
    quiet_client: TestClient, world: Callable[..., World], engine: Engine, settings: Settings
) -> None:
    client, w = quiet_client, world()
    activate_shipped(client, w.admin_token)
    first = Worker(engine, settings, name="first")
    second = Worker(engine, settings, name="second")
    assert first.take_runs() and not second.take_runs()
    queued = _queue(client, w)
    assert second.run_next() is None
    shown = client.get(f"/v1/runs/{queued['id']}", headers=auth(w.admin_token)).json()
    assert shown["status"] == "queued"
    first.stop()  # a clean stop gives the lease up: the other takes the queue at once
    [done] = second.run_all()
    assert (done.id, done.status, done.worker) == (queued["id"], "succeeded", "second")


def test_a_frozen_worker_is_taken_over_when_its_lease_expires(
    quiet_client: TestClient, world: Callable[..., World], engine: Engine, settings: Settings
) -> None:
    """A holder on another machine (or frozen) is not killed here: its lease runs out, then
    the next worker fails the run it left and works the queue."""
    client, w = quiet_client, world()
    activate_shipped(client, w.admin_token)
    queued = _queue(client, w)
    elsewhere = Worker(engine, settings, name="other-host:1:frozen")
    assert elsewhere.take_runs()
    claimed = elsewhere._claim()  # claimed, then it froze before matching
    assert claimed is not None and claimed[1] is not None
    later = utcnow() + timedelta(seconds=settings.run_lease_seconds + 1)
    soon = Worker(engine, settings, name="soon", clock=utcnow)
    assert not soon.take_runs()  # the lease is still valid: nothing is taken from it
    takeover = Worker(engine, settings, name="takeover", clock=lambda: later)
    assert takeover.take_runs()
    shown = client.get(f"/v1/runs/{queued['id']}", headers=auth(w.admin_token)).json()
    assert shown["status"] == "failed" and shown["error"].startswith("interrupted")


def test_the_purge_runs_once_per_interval_whatever_the_number_of_workers(
    engine: Engine, settings: Settings
) -> None:
    base = utcnow()
    interval = settings.purge_interval_seconds
    at: dict[str, float] = {"offset": 0.0}

    def clock():  # type: ignore[no-untyped-def]
        return base + timedelta(seconds=at["offset"])

    workers = [Worker(engine, settings, name=f"w{i}", clock=clock) for i in range(3)]
    # The service's first start: nobody purges before one interval has passed.
    assert [x.purge_if_due() for x in workers] == [None, None, None]
    at["offset"] = interval / 2
    assert [x.purge_if_due() for x in workers] == [None, None, None]
    at["offset"] = interval + 1
    done = [x.purge_if_due() for x in workers]
    assert sum(d is not None for d in done) == 1
    at["offset"] = 2 * interval + 2
    assert sum(x.purge_if_due() is not None for x in reversed(workers)) == 1
    assert len(_entries(engine, "purge")) == 2


def test_the_runs_page_queues_shows_progress_and_retries(
    quiet_client: TestClient, world: Callable[..., World], engine: Engine, settings: Settings
) -> None:
    from tests.matcher.actions.test_door_parity import _csrf, _sign_in

    client, w = quiet_client, world()
    client.headers["Accept-Language"] = "en"  # the texts below are the English ones
    activate_shipped(client, w.admin_token)
    _sign_in(client, w.admin_token)
    page = client.get("/web/admin/runs")
    queued = client.post(
        "/web/admin/runs",
        data={"run_date": RUN_DATE, "csrf_token": _csrf(page.text)},
        follow_redirects=True,
    )
    assert queued.status_code == 200
    assert "The run is queued." in queued.text and "Queued" in queued.text
    assert 'http-equiv="refresh"' in queued.text  # reloads itself while the run waits
    [entry] = _entries(engine, "run.queue")
    assert entry.actor.role == "admin"
    run_id = entry.object_ids["run"]

    # The run fails (its policy is retired while it waits); the page offers a retry.
    client.post("/v1/policies/concurrent-tenancy/retire", headers=auth(w.admin_token))
    worker = Worker(engine, settings)
    worker.run_all()
    failed = client.get("/web/admin/runs")
    assert "The policy it was queued under is no longer active." in failed.text
    assert f'action="/web/admin/runs/{run_id}/retry"' in failed.text
    assert 'http-equiv="refresh"' not in failed.text
    refused = client.post(
        f"/web/admin/runs/{run_id}/retry", data={"csrf_token": _csrf(failed.text)}
    )
    assert refused.status_code == 409 and "no active policy" in refused.text
    activate_shipped(client, w.admin_token)
    retried = client.post(
        f"/web/admin/runs/{run_id}/retry",
        data={"csrf_token": _csrf(failed.text)},
        follow_redirects=True,
    )
    assert "queued again as a new run" in retried.text
    worker.run_all()
    done = client.get("/web/admin/runs")
    assert "Succeeded" in done.text and "Retry of a failed run" in done.text


def test_queueing_needs_a_usable_policy_and_says_so(
    engine: Engine, settings: Settings, world: Callable[..., World]
) -> None:
    from matcher.errors import NoActivePolicy

    world()
    with pytest.raises(NoActivePolicy):
        queue_run(engine, settings, None, utcnow().date(), "admin")
    queued = queue_run(engine, settings, SHIPPED_POLICY, utcnow().date(), "admin")
    assert queued.status == "queued"
    [start] = _entries(engine, "run.start")  # the refused one; the queued one has not started
    assert start.outcome.reason == "no_policy"
