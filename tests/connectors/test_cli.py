"""The `connector` command as a data officer uses it: exit codes, messages, what is written.

Every bad input in tests/data ends with the right exit code, a message that says what was
wrong and what to do, and no package (not even a half-written one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.package import verify_package

DATA = Path(__file__).parents[1] / "data"
AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["-q", "keys", "new-matching-key", "--out", str(folder / "matching.key")]) == 0
    private, public = pseudonymise.new_reveal_key_pair()
    (folder / "reveal.key").write_bytes(private)
    (folder / "reveal.pub").write_bytes(public)
    return {"matching": folder / "matching.key", "reveal": folder / "reveal.pub"}


Workspace = Callable[[str], Path]


@pytest.fixture
def workspace(tmp_path: Path, keys: dict[str, Path]) -> Workspace:
    """A workspace initialised from a sample export; returns the profile path."""

    def make(sample: str) -> Path:
        folder = tmp_path / "ws"
        code = main(
            [
                "-q",
                "init",
                str(folder),
                "--company",
                "linbo",
                "--matching-key",
                str(keys["matching"]),
                "--sample",
                str(DATA / sample),
                "--reveal-key",
                str(keys["reveal"]),
            ]
        )
        assert code == 0
        return folder / "connector.toml"

    return make


def _pseudonymise(profile: Path, export: Path, out: Path) -> int:
    return main(
        [
            "-q",
            "pseudonymise",
            str(export),
            "--profile",
            str(profile),
            "--out",
            str(out),
            "--as-of",
            AS_OF,
        ]
    )


def _no_package(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


def test_good_exports_make_verified_packages(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for sample in ("good_semicolon_cp1252.csv", "good_english.csv", "good_hyresgaster.xlsx"):
        profile = workspace(sample)
        out = tmp_path / f"pkg-{sample}"
        assert _pseudonymise(profile, DATA / sample, out) == 0
        manifest = verify_package(out, (profile.parent / "signing.pub").read_bytes())
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["rows_read"] == 12
        assert manifest.row_count == report["rows_accepted"] > 0
        assert (out / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
        refs = pl.read_parquet(profile.parent / "refs.parquet")
        assert set(pl.read_parquet(out / "records.parquet")["ref"]) <= set(refs["ref"])
        # the next sample gets a fresh workspace
        for item in sorted(profile.parent.rglob("*"), reverse=True):
            item.unlink() if item.is_file() else item.rmdir()
        profile.parent.rmdir()


def test_inspect_shows_no_plaintext(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "No plaintext inside" in shown
    assert "token_national_id" in shown
    for secret in ("Lindqvist", "194501270948", "070-3657223"):
        assert secret not in shown


def test_resolve_prints_own_record_ids(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 0
    ref = pl.read_parquet(out / "records.parquet")["ref"][0]
    capsys.readouterr()
    assert main(["resolve", ref, "--profile", str(profile)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ref,record_id"
    assert lines[1].startswith(f"{ref},R000")
    assert main(["resolve", "0" * 32, "--profile", str(profile)]) == 1


def test_check_writes_only_the_report(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_semicolon_cp1252.csv")
    before = {p.name for p in profile.parent.iterdir()}
    code = main(
        [
            "check",
            str(DATA / "good_semicolon_cp1252.csv"),
            "--profile",
            str(profile),
            "--as-of",
            AS_OF,
        ]
    )
    assert code == 0
    after = {p.name for p in profile.parent.iterdir()}
    assert after - before == {"reports"}
    (report,) = (profile.parent / "reports").glob("check-*.json")
    detected = json.loads(report.read_text(encoding="utf-8"))["detected"]
    assert detected["encoding"] == "windows-1252"
    assert detected["delimiter"] == ";"
    assert "windows-1252" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sample", "bad", "code", "message"),
    [
        ("good_semicolon_cp1252.csv", "bad_wrong_delimiter.csv", 2, "delimiter is probably '|'"),
        ("good_semicolon_cp1252.csv", "bad_missing_required.csv", 2, "Personnummer"),
        ("good_english.csv", "bad_invalid_ids.csv", 1, "more than the limit of 5.0%"),
        ("good_english.csv", "bad_date_format.csv", 1, "more than the limit"),
        ("good_english.csv", "bad_duplicate_ids.csv", 1, "more than the limit"),
        ("good_english.csv", "empty.csv", 2, "empty"),
        ("good_english.csv", "header_only.csv", 1, "no data rows"),
        ("good_hyresgaster.xlsx", "bad_header_row3.xlsx", 2, "header_row = 3"),
    ],
)
def test_bad_inputs_stop_without_a_package(
    workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sample: str,
    bad: str,
    code: int,
    message: str,
) -> None:
    profile = workspace(sample)
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / bad, out) == code
    err = capsys.readouterr().err
    assert "error:" in err
    assert message in " ".join(err.split())
    _no_package(out)
    assert not (profile.parent / "refs.parquet").exists()


def test_data_errors_leave_a_report_naming_rows_and_columns(
    workspace: Workspace, tmp_path: Path
) -> None:
    profile = workspace("good_english.csv")
    assert _pseudonymise(profile, DATA / "bad_invalid_ids.csv", tmp_path / "pkg") == 1
    (report_file,) = (profile.parent / "reports").glob("check-*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["status"] == "stopped"
    assert report["rows_excluded"]["invalid_national_id"] == 4
    bad = [p for p in report["problems"] if p["reason"] and p["column"] == "National ID"]
    assert len(bad) == 4
    assert all(p["row"] >= 2 and p["expected"] for p in bad)


def test_undeclared_windows_1252_under_a_utf8_profile(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_semicolon_cp1252.csv")
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace('encoding = "auto"', 'encoding = "utf-8"'), encoding="utf-8")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "bad_cp1252_undeclared.csv", out) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Windows-1252" in err or "windows-1252" in err
    _no_package(out)
    # with detection on, the same file is read
    profile.write_text(text, encoding="utf-8")
    assert _pseudonymise(profile, DATA / "bad_cp1252_undeclared.csv", out) in (0, 1)


def test_forbidden_field_is_refused_with_the_reason(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    text = profile.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("[mapping]"))
    lines.insert(at + 1, 'nationality = "Nationality"')
    profile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "nationality" in err
    assert "art. 9" in err
    _no_package(out)


def test_existing_package_folder_is_never_overwritten(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 0
    manifest = (out / "manifest.json").read_bytes()
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 1
    assert "never overwritten" in " ".join(capsys.readouterr().err.split())
    assert (out / "manifest.json").read_bytes() == manifest


def test_missing_reveal_key_says_where_to_get_it(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    (profile.parent / "reveal.pub").unlink()
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "good_english.csv", out) == 2
    assert "matcher keys reveal-public" in " ".join(capsys.readouterr().err.split())
    _no_package(out)


def test_init_refuses_an_existing_workspace(
    workspace: Workspace, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile = workspace("good_english.csv")
    signing = (profile.parent / "signing.key").read_bytes()
    code = main(
        ["init", str(profile.parent), "--company", "linbo", "--matching-key", str(keys["matching"])]
    )
    assert code == 2
    assert (profile.parent / "signing.key").read_bytes() == signing
    assert "never overwritten" in capsys.readouterr().err


def test_init_prints_suggestion_and_public_key(
    tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "init",
            str(tmp_path / "ws"),
            "--company",
            "norrhem",
            "--matching-key",
            str(keys["matching"]),
            "--sample",
            str(DATA / "good_hyresgaster.xlsx"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Personnr" in out and "national_id" in out
    assert "BEGIN PUBLIC KEY" in out
    assert "matcher companies add norrhem" in out
    assert (tmp_path / "ws" / "signing.key").stat().st_mode & 0o077 == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["pseudonymise"])
    assert exit_info.value.code == 2


def test_init_finds_a_header_below_title_rows_and_the_profile_works(
    tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    code = main(["init", str(ws), "--company", "norrhem", "--matching-key",
                 str(keys["matching"]), "--sample", str(DATA / "bad_header_row3.xlsx"),
                 "--reveal-key", str(keys["reveal"])])  # fmt: skip
    assert code == 0
    assert "is on row 3" in capsys.readouterr().out
    profile = ws / "connector.toml"
    assert "header_row = 3" in profile.read_text(encoding="utf-8")
    out = tmp_path / "pkg"
    assert _pseudonymise(profile, DATA / "bad_header_row3.xlsx", out) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["rows_accepted"] > 0
    assert min(p["row"] for p in report["problems"]) >= 4 if report["problems"] else True
