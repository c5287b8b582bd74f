"""Shared fixtures of the connector tests: a real package made by the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import pseudonymise
from connectors.cli.main import main

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="session")
def made_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(package folder, workspace folder) for tests/data/good_english.csv, company linbo."""
    root = tmp_path_factory.mktemp("made-package")
    assert main(["-q", "keys", "new-matching-key", "--out", str(root / "matching.key")]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (root / "reveal.pub").write_bytes(public)
    workspace = root / "ws"
    sample = str(DATA / "good_english.csv")
    assert (
        main(
            [
                "-q",
                "init",
                str(workspace),
                "--company",
                "linbo",
                "--matching-key",
                str(root / "matching.key"),
                "--sample",
                sample,
                "--reveal-key",
                str(root / "reveal.pub"),
            ]
        )
        == 0
    )
    package = root / "pkg"
    assert (
        main(
            [
                "-q",
                "pseudonymise",
                sample,
                "--profile",
                str(workspace / "connector.toml"),
                "--out",
                str(package),
                "--as-of",
                "2026-11-01",
            ]
        )
        == 0
    )
    return package, workspace
