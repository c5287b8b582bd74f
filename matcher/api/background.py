"""The worker inside ``matcher serve``: queued runs and the retention purge, off the requests.

One :class:`matcher.actions.worker.Worker` per process, in a thread, woken every
``worker_poll_seconds`` or at once when a door queued a run (:meth:`Background.nudge`). The
leases make several processes safe: only one works the runs, only one purges per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from matcher.actions.worker import Worker
from matcher.settings import Settings

__all__ = ["Background"]

_log = logging.getLogger("matcher.worker")


class Background:
    def __init__(self, worker: Worker, settings: Settings) -> None:
        self.worker, self.settings = worker, settings
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """Look for queued runs now (safe from any thread; a no-op before start)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        # A run in progress finishes in its thread first (a cancel does not stop a thread);
        # then the lease is given up so another process takes the queue at once.
        try:
            await asyncio.to_thread(self.worker.stop)
        except Exception:
            _log.exception("could not release the runs lease")

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.to_thread(self.worker.tick)
            except Exception:  # keep serving; the next round tries again
                _log.exception("the background worker failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_seconds)
            self._wake.clear()
