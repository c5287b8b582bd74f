"""`connector token`: the token printed for one person is the one in the package the same
workspace made, whatever form the id is typed in; a bad id is refused without echoing it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from connectors.cli.main import main
from contract import RECORDS_FILE, token_column


def _token(capsys: pytest.CaptureFixture[str], workspace: Path, national_id: str) -> str:
    capsys.readouterr()
    code = main(
        [
            "token",
            "--national-id",
            national_id,
            "--profile",
            str(workspace / "connector.toml"),
            "--as-of",
            "2026-11-01",
        ]
    )
    assert code == 0
    return capsys.readouterr().out.strip()


def test_token_matches_the_package_in_any_input_form(
    made_package: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package, workspace = made_package
    tokens = set(
        pl.read_parquet(package / RECORDS_FILE)[token_column("national_id")].drop_nulls().to_list()
    )
    # R00002 of tests/data/good_english.csv, typed three ways.
    printed = {
        _token(capsys, workspace, form) for form in ("198509029735", "850902-9735", "19850902-9735")
    }
    assert len(printed) == 1
    [hex_token] = printed
    assert len(hex_token) == 64
    assert bytes.fromhex(hex_token) in tokens
    # Someone else's id gives another token, not in this register.
    other = _token(capsys, workspace, "194501270948")
    assert other != hex_token and bytes.fromhex(other) in tokens


def test_invalid_id_is_refused_without_echoing_it(
    made_package: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, workspace = made_package
    code = main(
        ["token", "--national-id", "198509029736", "--profile", str(workspace / "connector.toml")]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "198509029736" not in captured.err + captured.out
    assert "not a valid" in captured.err
