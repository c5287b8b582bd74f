"""``matcher serve --workers 3``: three processes share the port; the leases make exactly one
of them work each queued run and one purge per interval. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from demo.server import serving
from matcher.actions.runs import SHIPPED_POLICY
from matcher.settings import Settings
from matcher.store import audit
from tests.matcher.factories import auth, run_to_end

PURGE_SECONDS = 2.0


def _proc(pid: str, name: str) -> str:
    try:
        return (Path("/proc") / pid / name).read_text(errors="replace")
    except OSError:
        return ""


def _workers_of(data_dir: Path) -> list[str]:
    """The pids of the server processes uvicorn spawned for the ``serve`` of ``data_dir``."""
    pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    parents = [
        pid
        for pid in pids
        if str(data_dir) in _proc(pid, "cmdline") and "serve" in _proc(pid, "cmdline")
    ]
    assert len(parents) == 1, parents
    return [
        pid
        for pid in pids
        if _proc(pid, "stat").rsplit(")", 1)[-1].split()[1:2] == parents
        and "spawn_main" in _proc(pid, "cmdline")
    ]


@pytest.fixture
def served(initialised: tuple[Settings, str], tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    settings, token = initialised
    with (settings.data_dir / "matcher.toml").open("a") as toml:
        toml.write(f"purge_interval_seconds = {PURGE_SECONDS}\nworker_poll_seconds = 0.2\n")
    with serving(settings.data_dir, tmp_path / "serve.log", extra=["--workers", "3"]) as url:
        yield url, token, settings.data_dir


def _entries(engine: Engine, action: str) -> list[audit.AuditEntry]:
    with engine.connect() as conn:
        return list(audit.entries(conn, audit.EntryFilter(action=action)).items)


def test_three_workers_run_each_queued_run_once_and_purge_once_per_interval(
    served: tuple[str, str, Path], engine: Engine
) -> None:
    url, token, data_dir = served
    started = time.monotonic()
    assert len(_workers_of(data_dir)) == 3
    with httpx.Client(base_url=url, timeout=30) as client:
        activated = client.post(
            "/v1/policies",
            content=SHIPPED_POLICY.read_bytes(),
            headers={**auth(token), "Content-Type": "application/toml"},
        )
        assert activated.status_code == 201, activated.text
        queued = [
            client.post("/v1/runs", json={"run_date": "2026-03-01"}, headers=auth(token))
            for _ in range(3)
        ]
        assert [r.status_code for r in queued] == [202, 202, 202]
        done = [run_to_end(client, token, "2026-03-01")]
        deadline = time.monotonic() + 60
        while True:
            shown = [
                client.get(f"/v1/runs/{r.json()['id']}", headers=auth(token)).json() for r in queued
            ]
            if all(s["status"] in ("succeeded", "failed") for s in shown):
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert [s["status"] for s in shown + done] == ["succeeded"] * 4
    starts = _entries(engine, "run.start")
    ids = [s["id"] for s in shown + done]
    assert sorted(e.object_ids["run"] for e in starts) == sorted(ids)  # each started once

    # Let a few purge intervals pass: three processes poll every 0.2 s, one purges per interval.
    time.sleep(max(0.0, 3.5 * PURGE_SECONDS - (time.monotonic() - started)))
    purges = sorted(datetime.fromisoformat(e.time) for e in _entries(engine, "purge"))
    assert len(purges) >= 2
    gaps = [(b - a).total_seconds() for a, b in pairwise(purges)]
    assert all(gap >= 0.9 * PURGE_SECONDS for gap in gaps), gaps
