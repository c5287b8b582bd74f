"""Peak memory of a whole process tree (a command and the workers it starts), sampled from /proc.

``ru_maxrss`` reports one process at a time; a command with worker processes can exceed a
memory limit while no single process does, so the benchmarks sample the sum.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measured", "run_measured"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_tree_mib: float
    returncode: int


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(current)
    return total


def run_measured(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run `argv`, sampling the tree's resident memory every 50 ms; stdout/stderr discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({process.returncode}): {err.decode()[-2000:]}")
    return Measured(seconds, round(peak / 2**20, 1), process.returncode)
