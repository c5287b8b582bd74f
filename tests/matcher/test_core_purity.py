"""matcher/core stays pure: no web, HTTP, database, file, environment or clock access.

Parses every module under matcher/core with ``ast`` (nothing is imported or run) and fails on a
forbidden import, an ``open(...)`` call, or a reach for ``os.environ`` or the wall clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import matcher.core

CORE = Path(matcher.core.__file__).parent
FORBIDDEN_MODULES = {
    "fastapi",
    "starlette",
    "httpx",
    "sqlalchemy",
    "alembic",
    "uvicorn",
    "os",
    "pathlib",
    "io",
    "socket",
    "time",
    "shutil",
    "tempfile",
    "subprocess",
    "requests",
    "urllib",
}
# Clock reads through the datetime module: the run date and "now" come in as arguments.
FORBIDDEN_CALLS = {"open", "now", "today", "utcnow", "getenv"}
MODULES = sorted(CORE.rglob("*.py"))


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"line {node.lineno}: imports {name}")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: calls {called}()")
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"line {node.lineno}: reads environ")
    return found


def test_core_has_modules_to_check() -> None:
    assert {p.name for p in MODULES} >= {"rules.py", "plans.py", "find.py", "similarity.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_is_pure(path: Path) -> None:
    assert _problems(path) == []


def test_the_checker_catches_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nfrom sqlalchemy import text\nimport datetime\n"
        "x = open('f')\ny = datetime.datetime.now()\nz = os.environ\n",
        encoding="utf-8",
    )
    assert len(_problems(bad)) == 5
