"""The worker: runs queued runs one at a time and applies retention when it is due.

``matcher serve`` runs one in each process (``run_worker``, the default) and ``matcher worker``
runs one on its own. Two leases in the database decide which process does what, so any number
of processes may run a worker:

- ``runs``: only its holder claims queued runs. The holder renews it, and the run's heartbeat,
  every third of ``run_lease_seconds`` from a thread while a run is matching. A process that
  takes the lease fresh (missing, or expired because its holder was killed or froze; a holder on
  this machine whose process is gone is not waited for) first marks failed, reason
  ``interrupted``, with a ``run.finish`` entry, every run still ``running`` whose worker is such
  a gone process or whose heartbeat is older than a lease period. Such a run can be retried
  (``POST /v1/runs/{id}/retry``).
- ``purge``: taken for ``purge_interval_seconds`` and never renewed early, so the retention
  purge runs once per interval whatever the number of processes; the first purge runs one
  interval after the service first started.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from matcher.actions.purge import PurgeSummary, run_purge
from matcher.actions.runs import (
    Claimed,
    FindHits,
    RunSummary,
    RunTakenOver,
    match_and_store,
    queue_run,
    record_start,
    summary_of,
)
from matcher.core.audit import Actor, Outcome, PolicyRef
from matcher.core.decisions import Denied, evaluate_run
from matcher.core.vocabulary import AuditAction
from matcher.errors import NoActivePolicy, RunFailed
from matcher.settings import Settings
from matcher.store import audit, leases
from matcher.store.blobs import BlobStore
from matcher.store.database import create_database_engine, utcnow
from matcher.store.policies import active_policy
from matcher.store.runs import Run, beat, claim_next, fail_run, running_runs

__all__ = ["PURGE_LEASE", "RUNS_LEASE", "Worker", "recover_orphans", "start_run"]

RUNS_LEASE = "runs"
PURGE_LEASE = "purge"
_ENDED = ("succeeded", "failed")
_log = logging.getLogger("matcher.worker")


def _default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _fail_orphans(conn: Connection, now: datetime, seconds: float) -> list[str]:
    """Fail the running runs nobody works any more: their worker is a process of this machine
    that is gone, or their heartbeat is older than a lease period."""
    stale = now - timedelta(seconds=seconds)
    stuck = [
        run.id
        for run in running_runs(conn)
        if (run.worker is not None and _dead_here(run.worker))
        or run.heartbeat_at is None
        or run.heartbeat_at < stale
    ]
    for run_id in stuck:
        if fail_run(conn, run_id, "interrupted: the worker stopped during the run"):
            audit.append(
                conn,
                actor=audit.system_actor("worker"),
                action=AuditAction.RUN_FINISH,
                outcome=Outcome("denied", "interrupted"),
                now=now,
                object_ids={"run": run_id},
            )
            _log.warning("run %s was interrupted by a stop of its worker; marked failed", run_id)
    return stuck


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine that no longer exists (killed)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another account's
        return False
    return False


def recover_orphans(engine: Engine, holder: str, now: datetime, seconds: float) -> list[str] | None:
    """Take or renew the ``runs`` lease for ``holder``; None when another live process holds
    it. When taken fresh (nobody held it: the last holder stopped), the runs a stopped process
    left ``running`` are failed first; their ids are returned.

    A holder on this machine whose process is gone (kill -9, a crash) is not waited for: its
    lease ends at once. One on another machine is taken over when its lease expires."""
    with engine.begin() as conn:
        current = leases.holder_of(conn, RUNS_LEASE, now)
        if current is not None and current != holder and _dead_here(current):
            leases.release(conn, RUNS_LEASE, current)
        taken = leases.take(conn, RUNS_LEASE, holder, now, seconds)
        if taken is None:
            return None
        return _fail_orphans(conn, now, seconds) if taken.fresh else []


class _Heartbeat:
    """Renews the ``runs`` lease and the run's heartbeat while the run is matching."""

    def __init__(self, worker: Worker, run_id: str) -> None:
        self._worker, self._run_id = worker, run_id
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="run-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = self._worker.settings.run_lease_seconds / 3
        while not self._done.wait(interval):
            try:
                self._worker.renew(self._run_id)
            except Exception:  # the next beat tries again; the lease has slack for two misses
                _log.exception("could not renew the runs lease")


class Worker:
    """One process's worker. ``name`` identifies it in the leases and on running runs."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        name: str | None = None,
        find: FindHits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine, self.settings, self.find, self.clock = engine, settings, find, clock
        self.name = name or _default_name()
        self.blobs = BlobStore(settings.blob_dir)

    def take_runs(self) -> bool:
        """Take or renew the ``runs`` lease (failing what a stopped worker left running when it
        is taken fresh); False when another live process holds it."""
        now = self.clock()
        return (
            recover_orphans(self.engine, self.name, now, self.settings.run_lease_seconds)
            is not None
        )

    def renew(self, run_id: str) -> None:
        """Keep the ``runs`` lease and show that ``run_id`` is being worked."""
        now = self.clock()
        with self.engine.begin() as conn:
            leases.take(conn, RUNS_LEASE, self.name, now, self.settings.run_lease_seconds)
            beat(conn, run_id, self.name, now)

    def _claim(self) -> tuple[Run, Claimed | None] | None:
        """The next queued run, claimed, with what to run it with (None for the rules when its
        policy changed or may not run any more: then it is failed here)."""
        now = self.clock()
        with self.engine.begin() as conn:
            run = claim_next(conn, self.name, now)
            if run is None:
                return None
            who = run.actor or audit.system_actor(run.started_by)
            ref = PolicyRef(run.policy_id, run.policy_digest)
            try:
                stored = active_policy(conn, run.policy_id)
            except NoActivePolicy:
                stored = None
            usable = (
                stored is not None
                and stored.policy.rules.policy_digest == run.policy_digest
                and not isinstance(evaluate_run(stored.policy, run_date=run.run_date), Denied)
            )
            if not usable or stored is None:
                fail_run(
                    conn,
                    run.id,
                    "policy_changed: the policy the run was queued under is no longer active; "
                    "retry it to run the active policy",
                )
                audit.append(
                    conn,
                    actor=who,
                    action=AuditAction.RUN_START,
                    outcome=Outcome("denied", "policy_changed"),
                    now=now,
                    object_ids={"run": run.id},
                    policy=ref,
                )
                return run, None
            record_start(conn, who, run.id, ref)
            policy = stored.policy
        return run, Claimed(run.id, self.name, policy.rules, run.run_date, who, policy.participants)

    def run_next(self) -> RunSummary | None:
        """Claim and work the oldest queued run; None when there is none or another process
        holds the ``runs`` lease. A failed run is returned (status failed), not raised."""
        if not self.take_runs():
            return None
        claim = self._claim()
        if claim is None:
            return None
        run, claimed = claim
        if claimed is None:
            return summary_of(self.engine, run.id)
        _log.info("run %s started", run.id)
        try:
            with _Heartbeat(self, run.id):
                summary = match_and_store(
                    self.engine, self.blobs, claimed, self.find, self.settings.extract_limits
                )
        except RunFailed:
            _log.exception("run %s failed", run.id)
        except RunTakenOver:
            _log.warning("run %s was taken over by another worker; nothing stored", run.id)
        else:
            _log.info("run %s finished with %s hits", run.id, summary.counts.get("hits"))
            return summary
        return summary_of(self.engine, run.id)

    def run_all(self) -> list[RunSummary]:
        """Work queued runs until none is left (or the lease is another's)."""
        done: list[RunSummary] = []
        while (summary := self.run_next()) is not None:
            done.append(summary)
        return done

    def purge_if_due(self) -> PurgeSummary | None:
        """Apply retention when this process takes the ``purge`` lease (once per interval)."""
        interval = self.settings.purge_interval_seconds
        if interval <= 0:
            return None
        now = self.clock()
        with self.engine.begin() as conn:
            taken = leases.take(conn, PURGE_LEASE, self.name, now, interval, renew=False)
        if taken is None or taken.first:
            return None  # not due, or the service's first start: the first purge is one interval on
        return run_purge(self.engine, self.blobs, now, audit.system_actor())

    def tick(self) -> None:
        """One round of the loop: queued runs, then a due purge."""
        self.run_all()
        try:
            self.purge_if_due()
        except Exception:  # keep working; the next interval tries again
            _log.exception("periodic purge failed")

    def stop(self) -> None:
        """Give the ``runs`` lease up at a clean stop (the purge lease keeps its interval)."""
        with self.engine.begin() as conn:
            leases.release(conn, RUNS_LEASE, self.name)


def start_run(
    settings: Settings,
    policy_path: Path | None,
    run_date: date,
    started_by: str,
    *,
    engine: Engine | None = None,
    find: FindHits | None = None,
    actor: Actor | None = None,
    poll_seconds: float = 0.2,
) -> RunSummary:
    """Queue a run and wait for its end (``matcher run``): this process works the queue when
    no other worker holds the ``runs`` lease, else it waits for that worker. Raises
    :class:`RunFailed` when the run failed."""
    own = engine is None
    database = create_database_engine(settings.database_url) if engine is None else engine
    try:
        queued = queue_run(database, settings, policy_path, run_date, started_by, actor=actor)
        worker = Worker(database, settings, find=find)
        try:
            while True:
                worker.run_all()
                summary = summary_of(database, queued.id)
                if summary.status in _ENDED:
                    break
                time.sleep(poll_seconds)
        finally:
            worker.stop()
    finally:
        if own:
            database.dispose()
    if summary.status == "failed":
        raise RunFailed(f"run {summary.id} failed ({summary.error})")
    return summary
