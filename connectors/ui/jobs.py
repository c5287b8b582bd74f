"""A long step of `connector ui` (pseudonymise, upload) running in a background thread.

The page polls :meth:`Job.status` as JSON and draws a ``<progress>`` bar from it. A job ends
``done`` with its result or ``failed`` with a message; a failure's message is the connector's
own (it never holds register values), any other exception only its type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConnectorError

__all__ = ["Job", "start_job"]


@dataclass
class Job:
    name: str
    total: int
    done: int = 0
    step: str = "starting"
    state: str = "running"  # running | done | failed
    error: str | None = None
    result: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def advance(self, done: int, total: int | None = None, step: str | None = None) -> None:
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
            if step is not None:
                self.step = step

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "state": self.state,
                "done": self.done,
                "total": self.total,
                "step": self.step,
            }

    def _finish(self, result: Any) -> None:
        with self._lock:
            self.result = result
            self.done = self.total
            self.state = "done"

    def _fail(self, message: str) -> None:
        with self._lock:
            self.error = message
            self.state = "failed"

    @property
    def running(self) -> bool:
        with self._lock:
            return self.state == "running"


def start_job(name: str, total: int, work: Callable[[Job], Any]) -> Job:
    """Run `work(job)` in a thread; its return value becomes the job's result.

    Not a daemon thread: when the ui is stopped (Ctrl-C) while a package is being written, the
    process waits for it to finish instead of leaving a half-written staging folder behind."""
    job = Job(name=name, total=total)

    def run() -> None:
        try:
            job._finish(work(job))
        except ConnectorError as error:
            job._fail(str(error))
        except Exception as error:  # the page must say it stopped, whatever stopped it
            job._fail(f"unexpected {type(error).__name__}; run the same step in the terminal")

    threading.Thread(target=run, name=f"connector-ui-{name}").start()
    return job
