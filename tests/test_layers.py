"""The import-linter contracts of pyproject.toml ([tool.importlinter]) hold: the layers
(cli > app > web > api > actions > store > core > crypto / errors), connectors importing only
the wire contract, and pages not touching the tables. The same check as `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.skip("lint-imports is not installed (pip install -e '.[dev]')")
        lint_imports = Path(found)
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
