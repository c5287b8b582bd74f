"""Every link of the project stays inside the repository.

A relative Markdown link must resolve to a file or folder in the repository, and no source,
Markdown or TOML file may cite a document the repository does not hold (the design notes the
project grew from live outside it) or a path that climbs out of it to a parent folder. The project's
own architecture record is ``docs/architecture.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", ".venv-clkhash", "node_modules", "demo-output", "build", "dist"}
SUFFIXES = {".py", ".md", ".toml"}

# Built from parts so this file does not match itself.
OUTSIDE_DOCS = ("DESIGN" + ".md", "STYLE" + ".md")
UP = ".." + "/"
# UP that starts a path (not "/web/../v1", a URL the web tests use to try an open redirect).
CLIMBS_OUT = re.compile(r"(?<![\w/.])(?:" + re.escape(UP) + ")+")
# [text](target) and [text]: target, minus images' and links' optional titles.
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)", re.M)

# Files that may keep a mention, each with the reason. Keep this list short.
EXEMPT = {
    # Policy files are digested: any edit changes the policy digest recorded with every run,
    # hit and reveal. The comment names the design section the format follows; the same
    # section is "Legal-basis policies" in docs/architecture.md.
    "policies/concurrent-tenancy.toml": "digested policy file",
    # Owned by the matching branch (matcher/core/matching/ is being changed in parallel); its
    # two comments are pointed at docs/architecture.md when that branch merges.
}


def _files(suffixes: set[str]) -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if any(part in SKIP_DIRS or part.startswith(".venv") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in suffixes:
            found.append(path)
    return sorted(found)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


MARKDOWN = _files({".md"})
SOURCES = _files(SUFFIXES)


def _links(text: str) -> list[str]:
    # Code spans and fenced blocks hold examples, not links.
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in MD_LINK.findall(text)]


def _climbs_out(path: Path, text: str) -> bool:
    """Whether a parent-folder path in ``text`` leaves the repository when read from ``path``'s
    folder (``docs/x.md`` may link one folder up, the README may not)."""
    depth = len(path.parent.relative_to(REPO).parts)
    return any(len(m.group(0)) // len(UP) > depth for m in CLIMBS_OUT.finditer(text))


def _is_relative(target: str) -> bool:
    return not (
        target.startswith(("#", "/", "mailto:", "data:"))
        or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", target)
    )


def test_there_are_files_to_check() -> None:
    assert {"README.md", "docs/architecture.md"} <= {_rel(p) for p in MARKDOWN}
    assert "tests/test_links.py" in {_rel(p) for p in SOURCES}


@pytest.mark.parametrize("path", MARKDOWN, ids=_rel)
def test_relative_markdown_links_resolve_inside_the_repository(path: Path) -> None:
    broken = []
    for target in _links(path.read_text(encoding="utf-8")):
        if not _is_relative(target):
            continue
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not file_part:
            continue
        resolved = (path.parent / file_part).resolve()
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{_rel(path)} links to files that are not in the repository"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_file_cites_a_document_or_path_outside_the_repository(path: Path) -> None:
    if _rel(path) in EXEMPT:
        pytest.skip(EXEMPT[_rel(path)])
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        problems += [f"line {number}: cites {doc}" for doc in OUTSIDE_DOCS if doc in line]
        if _climbs_out(path, line):
            problems.append(f"line {number}: a path climbing out of the repository ({UP})")
    assert problems == []


@pytest.mark.parametrize("name", sorted(EXEMPT))
def test_each_exemption_is_still_needed(name: str) -> None:
    text = (REPO / name).read_text(encoding="utf-8")
    assert any(doc in text for doc in OUTSIDE_DOCS) or _climbs_out(REPO / name, text), (
        f"{name} no longer cites anything outside the repository: drop its exemption"
    )


def test_the_checks_catch_what_they_forbid() -> None:
    assert _links(f"see [a]({UP}x/y.md) and [b](docs/z.md#top) `[c](no.md)`") == [
        f"{UP}x/y.md",
        "docs/z.md#top",
    ]
    assert not _is_relative("https://example.org/") and not _is_relative("#anchor")
    assert _climbs_out(REPO / "README.md", f"[d]({UP}shared/notes.md)")
    assert _climbs_out(REPO / "docs" / "x.md", f"[d]({UP}{UP}shared/notes.md)")
    assert not _climbs_out(REPO / "docs" / "x.md", f"[d]({UP}policies/README.md)")
    assert not _climbs_out(REPO / "README.md", f'"/web/{UP}v1/users"')
