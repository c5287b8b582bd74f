"""Matching runs: queue one, work a claimed one, read them.

``queue_run`` (the API, the runs page and ``matcher run``) checks that the active policy may run
on the run date (:func:`matcher.core.decisions.evaluate_run`; a refusal is an audited
``run.start`` denied) and queues the run (``run.queue``). A worker
(:mod:`matcher.actions.worker`) claims it and calls ``match_and_store``: it scans the stored
blobs lazily (never the ``sealed_*`` columns), calls the engine and merges the hits into the
store with the counts per rule and band, in one transaction with the ``run.finish`` entry. The
engine function is a parameter, so tests and benchmarks can pass their own; the default is
:func:`matcher.core.matching.find.find_hits`.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

import policies
from contract import SEALED_PREFIX
from matcher.actions.entries import record
from matcher.actions.policies import activate_in
from matcher.actions.principal import Principal
from matcher.core.audit import Actor, Outcome, PolicyRef
from matcher.core.decisions import Denied, evaluate_run
from matcher.core.matching.rules import RuleError, RuleSet, policy_digest, rules_from_policy
from matcher.core.policy import Policy
from matcher.core.vocabulary import AuditAction
from matcher.errors import ConflictError, NoActivePolicy, NotFound, RunFailed, UploadRejected
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.blobs import BlobStore
from matcher.store.database import utcnow
from matcher.store.extract_size import ExtractLimits, measure_records
from matcher.store.extracts import Extract, active_extracts
from matcher.store.hits import FoundHit, upsert_hits
from matcher.store.policies import NO_ACTIVE_HINT, active_policy
from matcher.store.runs import (
    Run,
    create_run,
    fail_run,
    finish_run,
    get_run,
    recent_runs,
    set_inputs,
    set_progress,
)
from matcher.store.runs import queue_run as store_queue_run
from matcher.store.tables import runs as runs_table

__all__ = [
    "SHIPPED_POLICY",
    "Claimed",
    "FindHits",
    "RunSummary",
    "RunTakenOver",
    "active_policy_path",
    "active_run_policy",
    "execute_run",
    "list_runs",
    "load_rules",
    "match_and_store",
    "queue_run",
    "read_run",
    "record_start",
    "retry_run",
    "summary_of",
]

SHIPPED_POLICY = Path(policies.__file__).parent / "concurrent-tenancy.toml"

FindHits = Callable[[Mapping[str, pl.LazyFrame], RuleSet, date], pl.DataFrame]


@dataclass(frozen=True)
class RunSummary:
    id: str
    status: str
    run_date: date
    policy_id: str
    policy_version: str
    policy_digest: str
    extract_ids: dict[str, str]
    counts: dict[str, Any]
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    queued_at: datetime | None = None
    stage: str | None = None
    progress: float | None = None  # share done, 0..1
    worker: str | None = None
    retry_of: str | None = None

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(
            id=run.id,
            status=run.status,
            run_date=run.run_date,
            policy_id=run.policy_id,
            policy_version=run.policy_version,
            policy_digest=run.policy_digest,
            extract_ids=run.extract_ids,
            counts=run.counts,
            started_by=run.started_by,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            queued_at=run.queued_at,
            stage=run.stage,
            progress=run.progress,
            worker=run.worker,
            retry_of=run.retry_of,
        )


def active_policy_path(settings: Settings, override: Path | None) -> Path:
    """The policy file a run should activate first: ``override``, else ``settings.policy_path``
    (None when neither is given: the run then uses the policy active in the store)."""
    for candidate in (override, settings.policy_path):
        if candidate is not None:
            if not candidate.is_file():
                raise NoActivePolicy(
                    f"the policy file {candidate} does not exist, so no run was started; "
                    f"pass the path of a policy TOML file, or {NO_ACTIVE_HINT}"
                )
            return candidate
    raise NoActivePolicy(f"no policy file was named; {NO_ACTIVE_HINT}")


def load_rules(path: Path) -> RuleSet:
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        return rules_from_policy(data, policy_digest(raw))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RuleError) as exc:
        raise NoActivePolicy(f"the policy {path} can not be used: {exc}") from exc


def _scan(path: Path) -> pl.LazyFrame:
    scan = pl.scan_parquet(path)
    # The matcher never reads sealed fields for matching; do not even plan them.
    keep = [c for c in scan.collect_schema().names() if not c.startswith(SEALED_PREFIX)]
    return scan.select(keep)


def _readable_columns(path: Path) -> list[str]:
    return [c for c in pl.read_parquet_schema(path) if not c.startswith(SEALED_PREFIX)]


def _within_limits(
    blobs: BlobStore, inputs: Sequence[Extract], limits: Callable[[str], ExtractLimits]
) -> tuple[list[Extract], list[tuple[Extract, str]]]:
    """The extracts the run may load, and the refused ones with the problem slug.

    Each is measured batch by batch (the columns the run reads) before polars plans on it: an
    extract stored under older limits, or written past the upload checks, must not take the
    machine or the other companies' matching down with it."""
    readable: list[Extract] = []
    refused: list[tuple[Extract, str]] = []
    for extract in inputs:
        path = blobs.path_for(extract.blob_key)
        try:
            columns = _readable_columns(path)
            measure_records(path, limits(extract.company_id), extract.company_id, columns)
        except UploadRejected as exc:
            refused.append((extract, exc.slug))
        except Exception:  # an unreadable blob is refused, not fatal to the others
            refused.append((extract, "bad-parquet"))
        else:
            readable.append(extract)
    return readable, refused


def _counts(rules: RuleSet, frame: pl.DataFrame) -> dict[str, dict[str, int]]:
    counts = {rule.id: {"strong": 0, "review": 0} for rule in rules.rules}
    if frame.height:
        grouped = frame.group_by("rule_id", "band").len()
        for rule_id, band, n in grouped.iter_rows():
            counts.setdefault(rule_id, {"strong": 0, "review": 0})[band] = int(n)
    return counts


class RunTakenOver(Exception):
    """The run is no longer this worker's (the next lease holder marked it interrupted)."""


@dataclass(frozen=True)
class Claimed:
    """A run a worker has claimed and what it runs it with."""

    run_id: str
    worker: str
    rules: RuleSet
    run_date: date
    who: Actor
    participants: Sequence[str]


def _stage(engine: Engine, claimed: Claimed, stage: str, progress: float) -> None:
    with engine.begin() as conn:
        if not set_progress(conn, claimed.run_id, claimed.worker, stage, progress, utcnow()):
            raise RunTakenOver(claimed.run_id)


def match_and_store(
    engine: Engine,
    blobs: BlobStore,
    claimed: Claimed,
    find: FindHits | None = None,
    limits: Callable[[str], ExtractLimits] | None = None,
) -> RunSummary:
    """Work one claimed run: check the extracts, match, store hits and counts in one commit.

    ``limits`` (company id -> its extract limits; ``Settings.extract_limits``) bounds what the
    run loads: an extract that breaks them is left out (``counts["skipped"]`` and a
    ``run.skip_extract`` entry name it) and the other companies are matched without it. Only the
    extracts of the policy's ``participants`` are matched (``"*"``: every company).

    The stage and share done are stored as the run goes (``GET /v1/runs/{id}``). The hits and
    the end of the run are one transaction, conditional on the run still being this worker's:
    a run taken over (marked interrupted) stores nothing, and a crash stores nothing half."""
    rules, who, run_id = claimed.rules, claimed.who, claimed.run_id
    ref = PolicyRef(rules.policy_id, rules.policy_digest)
    if find is None:
        from matcher.core.matching.find import find_hits  # imported late: polars plans are heavy

        find = find_hits
    try:
        with engine.begin() as conn:
            # Read in one transaction with the run's record: the run names exactly the extracts
            # it matched, even if an upload supersedes one a moment later.
            participants = claimed.participants
            inputs = [
                e
                for e in active_extracts(conn)
                if "*" in participants or e.company_id in participants
            ]
            extract_ids = {e.company_id: e.id for e in inputs}
            if not set_inputs(conn, run_id, claimed.worker, extract_ids):
                raise RunTakenOver(run_id)
        _stage(engine, claimed, "checking extracts", 0.05)
        readable, refused = _within_limits(blobs, inputs, limits or _default_limits)
        if refused:
            with engine.begin() as conn:
                for extract, slug in refused:
                    audit.append(
                        conn,
                        actor=who,
                        action=AuditAction.RUN_SKIP_EXTRACT,
                        outcome=Outcome("denied", slug),
                        now=utcnow(),
                        object_ids={
                            "run": run_id,
                            "extract": extract.id,
                            "company": extract.company_id,
                        },
                        policy=ref,
                    )
        _stage(engine, claimed, "matching", 0.2)
        frames = {e.company_id: _scan(blobs.path_for(e.blob_key)) for e in readable}
        found = find(frames, rules, claimed.run_date)
        _stage(engine, claimed, "storing hits", 0.8)
        hits = [
            FoundHit(
                rule_id=row["rule_id"],
                lane=row["lane"],
                band=row["band"],
                company_a=row["company_a"],
                ref_a=row["ref_a"],
                extract_a=extract_ids[row["company_a"]],
                company_b=row["company_b"],
                ref_b=row["ref_b"],
                extract_b=extract_ids[row["company_b"]],
                overlap_start=row["overlap_start"],
                overlap_end=row["overlap_end"],
                overlap_days=int(row["overlap_days"]),
                score=row["score"],
            )
            for row in found.iter_rows(named=True)
        ]
        with engine.begin() as conn:
            merged = upsert_hits(conn, hits, run_id, rules.policy_id, rules.policy_digest, utcnow())
            counts = {
                "rules": _counts(rules, found),
                "hits": len(hits),
                "new": merged.new,
                "still_present": merged.still_present,
                "reopened": merged.reopened,
                "resolved_by_data": merged.resolved_by_data,
                "skipped": {e.company_id: slug for e, slug in refused},
            }
            if not finish_run(conn, run_id, counts, claimed.worker):
                raise RunTakenOver(run_id)  # rolls the hits back with it
            _finished(conn, who, run_id, ref, "succeeded")
    except RunTakenOver:
        raise
    except Exception as exc:
        # Only the error class: engine messages may quote data we do not want in the table.
        with engine.begin() as conn:
            if fail_run(
                conn,
                run_id,
                f"{type(exc).__name__}: the run failed; see the server log",
                claimed.worker,
            ):
                _finished(conn, who, run_id, ref, "failed")
        raise RunFailed(f"run {run_id} failed ({type(exc).__name__})") from exc
    return summary_of(engine, run_id)


def summary_of(engine: Engine, run_id: str) -> RunSummary:
    with engine.connect() as conn:
        run = get_run(conn, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}")
    return RunSummary.of(run)


def record_start(conn: Connection, who: Actor, run_id: str, ref: PolicyRef) -> None:
    audit.append(
        conn,
        actor=who,
        action=AuditAction.RUN_START,
        outcome=Outcome("allowed"),
        now=utcnow(),
        object_ids={"run": run_id},
        policy=ref,
    )


def execute_run(
    engine: Engine,
    blobs: BlobStore,
    rules: RuleSet,
    run_date: date,
    started_by: str,
    find: FindHits | None = None,
    *,
    actor: Actor | None = None,
    participants: Sequence[str] = ("*",),
    limits: Callable[[str], ExtractLimits] | None = None,
) -> RunSummary:
    """Run ``rules`` at once in this process, past the queue (tests and benchmarks)."""
    who = actor or audit.system_actor(started_by)
    run_id = str(uuid.uuid4())
    worker = f"inline:{run_id}"
    with engine.begin() as conn:
        create_run(
            conn,
            run_id,
            run_date,
            rules.policy_id,
            rules.policy_version,
            rules.policy_digest,
            {},
            started_by,
            actor=who,
        )
        conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(worker=worker))
        record_start(conn, who, run_id, PolicyRef(rules.policy_id, rules.policy_digest))
    claimed = Claimed(run_id, worker, rules, run_date, who, participants)
    return match_and_store(engine, blobs, claimed, find, limits)


def _default_limits(_company: str) -> ExtractLimits:
    return Settings(data_dir=Path()).extract_limits(_company)


def _finished(conn: Connection, who: Actor, run_id: str, ref: PolicyRef, status: str) -> None:
    audit.append(
        conn,
        actor=who,
        action=AuditAction.RUN_FINISH,
        outcome=Outcome("allowed", status),
        now=utcnow(),
        object_ids={"run": run_id},
        policy=ref,
    )


def active_run_policy(
    engine: Engine, run_date: date, who: Actor, policy_id: str | None = None
) -> Policy:
    """The active policy if it may run on ``run_date``; otherwise an audit entry for the
    refused start (in its own transaction: nothing else is stored) and
    :class:`NoActivePolicy`."""
    with engine.begin() as conn:
        try:
            stored = active_policy(conn, policy_id)
        except NoActivePolicy as exc:
            refused: Exception = exc
            ref = None
        else:
            decision = evaluate_run(stored.policy, run_date=run_date)
            if not isinstance(decision, Denied):
                return stored.policy
            ref = stored.ref
            refused = NoActivePolicy(
                f"the active policy {stored.id} version {stored.version} can not run on "
                f"{run_date}: {decision.reason} Fix the dates or {NO_ACTIVE_HINT}"
            )
        audit.append(
            conn,
            actor=who,
            action=AuditAction.RUN_START,
            outcome=Outcome("denied", "no_policy" if ref is None else "policy_unusable"),
            now=utcnow(),
            policy=ref,
        )
    raise refused


def _activate_file(
    engine: Engine, settings: Settings, policy_path: Path | None, who: Actor
) -> None:
    if policy_path is not None or settings.policy_path is not None:
        raw = active_policy_path(settings, policy_path).read_bytes()
        with engine.begin() as conn:
            activate_in(conn, raw, who, utcnow())


def queue_run(
    engine: Engine,
    settings: Settings,
    policy_path: Path | None,
    run_date: date,
    started_by: str,
    *,
    actor: Actor | None = None,
    retry_of: str | None = None,
) -> RunSummary:
    """``POST /v1/runs``, the runs page and ``matcher run``: queue a run of the active policy.

    ``policy_path`` (``matcher run --policy FILE``) means "activate FILE, then run": the file is
    checked and activated like ``matcher policies activate`` (a no-op when it is active
    already). A run is refused at once (409, an audited ``run.start`` denied) without an active
    policy that is valid on ``run_date``; otherwise it is queued (``run.queue``) and a worker
    (:mod:`matcher.actions.worker`) runs it."""
    who = actor or audit.system_actor(started_by)
    _activate_file(engine, settings, policy_path, who)
    policy = active_run_policy(engine, run_date, who)
    rules = policy.rules
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        store_queue_run(
            conn,
            run_id,
            run_date,
            (rules.policy_id, rules.policy_version, rules.policy_digest),
            started_by,
            who,
            retry_of,
        )
        objects = {"run": run_id} if retry_of is None else {"run": run_id, "retry_of": retry_of}
        audit.append(
            conn,
            actor=who,
            action=AuditAction.RUN_QUEUE,
            outcome=Outcome("allowed"),
            now=utcnow(),
            object_ids=objects,
            policy=PolicyRef(rules.policy_id, rules.policy_digest),
        )
    return summary_of(engine, run_id)


def retry_run(
    engine: Engine, settings: Settings, run_id: str, started_by: str, *, actor: Actor | None = None
) -> RunSummary:
    """Queue a failed run again (same run date, the policy active now); ConflictError unless
    the run failed, NotFound for an unknown id."""
    with engine.connect() as conn:
        run = get_run(conn, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}")
    if run.status != "failed":
        raise ConflictError(f"run {run_id} is {run.status}; only a failed run can be retried")
    return queue_run(engine, settings, None, run.run_date, started_by, actor=actor, retry_of=run_id)


def read_run(conn: Connection, who: Principal, run_id: str, now: datetime) -> RunSummary:
    """One run's status and counts (``GET /v1/runs/{id}``); NotFound for an unknown id."""
    run = get_run(conn, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}")
    record(conn, who, AuditAction.RUN_READ, now, {"run": run_id})
    return RunSummary.of(run)


def list_runs(conn: Connection, who: Principal, now: datetime, limit: int) -> list[RunSummary]:
    """The latest ``limit`` runs, newest first (``GET /v1/runs``, the runs page)."""
    found = [RunSummary.of(run) for run in recent_runs(conn, limit)]
    record(conn, who, AuditAction.RUN_LIST, now, {"count": str(len(found))})
    return found
