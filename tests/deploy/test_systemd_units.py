"""The systemd units in deploy/ are valid: ``systemd-analyze verify`` finds nothing to say
about them once their ExecStart points at this checkout's ``matcher`` (skipped where systemd's
tools are missing; CI's Debian machine has them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).parents[2] / "deploy" / "systemd"


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    matcher = Path(sys.executable).with_name("matcher")
    assert matcher.exists()
    names = sorted(p.name for p in UNITS.iterdir())
    assert {"crosscheck-matcher.service", "crosscheck-worker.service"} <= set(names)
    for name in names:
        text = (UNITS / name).read_text()
        (tmp_path / name).write_text(
            text.replace("/opt/crosscheck/.venv/bin/matcher", str(matcher))
        )
    checked = subprocess.run(
        [tool, "verify", "--man=no", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr
