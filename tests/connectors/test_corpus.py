"""Mapping inference on the export corpus (tests/data/corpus): exports unlike the synthetic
generator's. For every layout, the profile `connector init --sample` writes is usable as is:
`check` passes, every planted field is mapped to its column, protected rows are excluded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.profile import load_profile

CORPUS = Path(__file__).parents[1] / "data" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "corpus.json").read_text(encoding="utf-8")
)
AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["-q", "keys", "new-matching-key", "--out", str(folder / "matching.key")]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (folder / "reveal.pub").write_bytes(public)
    return {"matching": folder / "matching.key", "reveal": folder / "reveal.pub"}


def test_the_corpus_has_at_least_twelve_layouts() -> None:
    assert len(EXPECTED) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_suggested_profile_is_usable_as_is(
    name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    expected = EXPECTED[name]
    workspace = tmp_path / "ws"
    if "sql_query" in expected:
        source = ["--sql-url", f"sqlite:///{CORPUS / name}", "--sql-query", expected["sql_query"]]
        export: list[str] = []
    else:
        source = ["--sample", str(CORPUS / name)]
        export = [str(CORPUS / name)]
    init = ["-q", "init", str(workspace), "--company", "linbo", "--matching-key",
            str(keys["matching"]), "--reveal-key", str(keys["reveal"])]  # fmt: skip
    assert main([*init, *source]) == 0
    profile = load_profile(workspace / "connector.toml")
    for field, column in expected["mapping"].items():
        assert profile.mapping.get(field) == column, f"{field} should be {column!r}"

    reports = tmp_path / "reports"
    assert main(["-q", "check", *export, "--profile", str(workspace / "connector.toml"),
                 "--as-of", AS_OF, "--report", str(reports)]) == 0  # fmt: skip
    (report_path,) = reports.glob("*.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["rows_read"] == expected["rows"]
    assert report["rows_excluded"]["protected_identity"] == expected["protected_rows"]
    assert report["rows_accepted"] == expected["rows"] - expected["protected_rows"]
