"""What ``matcher serve`` does before it answers: recover from a crash, check the files.

- Runs left ``running`` by a crash (kill -9, power loss) are marked failed, each with a
  ``run.finish`` entry (outcome denied, reason ``interrupted``): they never finish by themselves
  and can be retried. Only when no live worker holds the ``runs`` lease
  (:mod:`matcher.actions.worker`): a run another process is working is left alone.
- Partial uploads (``blobs/tmp/*.part``) of requests that died with the server are removed.
- The data directory is made 0700 and the SQLite database file 0600.
- A key file (reveal private key, audit log key, web session secret) that its group or
  others may read is refused, with the command that fixes it.
"""

from __future__ import annotations

import logging
import stat
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from matcher.actions.throttle import flush_tallies
from matcher.actions.worker import RUNS_LEASE, recover_orphans
from matcher.errors import ConfigError
from matcher.settings import Settings
from matcher.store import leases

__all__ = ["Recovered", "check_key_modes", "prepare"]

_log = logging.getLogger("matcher.startup")


@dataclass(frozen=True)
class Recovered:
    failed_runs: tuple[str, ...]
    removed_parts: int


def check_key_modes(settings: Settings) -> None:
    """Refuse key files readable or writable by group or others (ConfigError with the fix)."""
    for path in (
        settings.reveal_private_key_path,
        settings.log_private_key_path,
        settings.session_secret_path,
    ):
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue  # a missing key is reported where it is needed, with its own message
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the key file {path} has mode {stat.S_IMODE(mode):04o}: its group or others "
                f"may read it. Only the service account may: run `chmod 600 {path}` and start "
                "again"
            )


def _private_modes(settings: Settings) -> None:
    settings.data_dir.chmod(0o700)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            db_file = Path(url.database + suffix)
            if db_file.exists():
                db_file.chmod(0o600)


def _remove_parts(tmp_dir: Path) -> int:
    removed = 0
    for part in tmp_dir.glob("*.part") if tmp_dir.is_dir() else ():
        part.unlink(missing_ok=True)
        removed += 1
    return removed


def prepare(settings: Settings, engine: Engine, now: datetime) -> Recovered:
    """Everything above, in that order of importance: keys first (refuse to start)."""
    check_key_modes(settings)
    _private_modes(settings)
    removed = _remove_parts(settings.blob_dir / "tmp")
    with engine.begin() as conn:
        flush_tallies(conn, now, complete_only=False)  # refusals tallied before the stop
    holder = f"startup:{uuid.uuid4().hex}"
    stuck = recover_orphans(engine, holder, now, settings.run_lease_seconds) or []
    with engine.begin() as conn:
        leases.release(conn, RUNS_LEASE, holder)  # the worker takes it on its first round
    if removed:
        _log.warning("removed %d partial upload(s) left by a stop of the matcher", removed)
    return Recovered(tuple(stuck), removed)
