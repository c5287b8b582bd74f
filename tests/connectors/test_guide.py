"""The data officer's guide works as written: its `connector` lines (```sh blocks of
docs/data-officer.md) run in order in a fresh folder, except those that need a running matcher
(upload, witness run: tests/e2e/test_witness.py), a ref from a hit (resolve) or a browser
(ui, tested in tests/connectors/ui/)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from connectors import pseudonymise
from connectors.cli.main import main

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "data-officer.md"
NEEDS_A_MATCHER = ("upload", "resolve", "ui")


def guide_commands() -> list[list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^ *```(?:sh|console)\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("connector "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def test_the_guide_has_connector_examples() -> None:
    assert [c[0] for c in guide_commands()][:4] == ["init", "check", "pseudonymise", "inspect"]


def test_the_guides_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(ROOT / "tests" / "data" / "good_english.csv", tmp_path / "export.csv")
    assert main(["-q", "keys", "new-matching-key", "--out", "matching.key"]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    _, log_public = pseudonymise.new_signing_key()  # what `matcher audit public-key` hands out
    (tmp_path / "crosscheck-log.pub").write_bytes(log_public)
    for words in guide_commands():
        if words[0] in NEEDS_A_MATCHER or words[:2] == ["witness", "run"]:
            continue
        assert main(["-q", *words]) == 0, " ".join(words)
    assert (tmp_path / "pkg-2026-11" / "manifest.json").exists()
    assert 'url = "https://matcher.example.se"' in (tmp_path / "ws" / "connector.toml").read_text(
        encoding="utf-8"
    )
