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


# --- transitively: what the core imports, and what that imports, stays below it -----------

# The layers under the core (crypto, errors, the wire contract) may touch files and the OS
# (crypto reads key files); none of them may pull in a web framework, HTTP or a database.
BELOW_CORE = ("matcher.crypto", "matcher.errors", "contract")
NEVER_UNDER_THE_CORE = {"fastapi", "starlette", "httpx", "sqlalchemy", "alembic", "uvicorn"}


def _closure() -> set[str]:
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (dev extra)")
    graph = grimp.build_graph("matcher", "contract", include_external_packages=True)
    reached: set[str] = set()
    for module in graph.modules:
        if module == "matcher.core" or module.startswith("matcher.core."):
            reached |= graph.find_upstream_modules(module)
    return reached


def test_core_imports_only_itself_and_the_layers_below_it_transitively() -> None:
    reached = _closure()
    project = {m for m in reached if m.split(".")[0] in {"matcher", "contract"}}
    strays = sorted(
        m
        for m in project
        if not m.startswith("matcher.core")
        and not any(m == b or m.startswith(b + ".") for b in BELOW_CORE)
    )
    assert strays == []
    frameworks = sorted(m for m in reached if m.split(".")[0] in NEVER_UNDER_THE_CORE)
    assert frameworks == []
