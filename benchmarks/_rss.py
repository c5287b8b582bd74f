"""Run a command and sample the resident memory of its whole process tree from /proc.

``ru_maxrss`` reports one process at a time; a command with worker processes can exceed a
memory limit while no single process does, so the benchmarks sample the sum of the command and
all its descendants every 50 ms.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Measured", "run_measured"]

SAMPLE_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_tree_mib: float


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process now running."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                # The command name may hold spaces and parentheses: split after its last ')'.
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (0 for processes that ended)."""
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_measured(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run `argv` to completion, sampling its tree's memory; fail on a non-zero exit."""
    peak = 0
    start = time.perf_counter()
    process = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise AssertionError(
            f"{list(argv)} exited with {process.returncode}: {stderr.decode()[-2000:]}"
        )
    return Measured(seconds=seconds, peak_tree_mib=round(peak / 2**20, 1))
