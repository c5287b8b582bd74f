"""Skyddad identitet fails closed: every flag spelling excludes its rows; a profile that does not
account for the flag, or leaves a flag-looking column unmapped, stops with exit 2 and writes
nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stdnum import luhn

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.protection import looks_like_protection_flag

AS_OF = "2026-11-01"


def _pnr(i: int) -> str:
    body = f"7{i % 10}0{1 + i % 9}1{i % 10}{100 + i:03d}"
    return "19" + body + luhn.calc_check_digit(body)


def _export(tmp_path: Path, header: str, yes: str, no: str, rows: int = 20) -> Path:
    lines = [f"Löpnr;Personnummer;Efternamn;Fr.o.m.;{header}"]
    lines += [
        f"{i};{_pnr(i)};Berg;2020-01-01;{yes if i in (3, 7) else no}" for i in range(1, rows + 1)
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _init(tmp_path: Path, sample: Path, *extra: str) -> Path:
    key = tmp_path / "matching.key"
    assert main(["-q", "keys", "new-matching-key", "--out", str(key)]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    ws = tmp_path / "ws"
    assert main(["-q", "init", str(ws), "--company", "linbo", "--matching-key", str(key),
                 "--sample", str(sample), "--reveal-key", str(tmp_path / "reveal.pub"),
                 *extra]) == 0  # fmt: skip
    return ws / "connector.toml"


SPELLINGS = [
    ("Skyddad identitet", "Ja", "Nej"),
    ("Sekretessmarkering", "J", "N"),
    ("skyddad", "X", ""),
    ("protected", "true", "false"),
    ("Spärr", "1", "0"),
    ("Skyddad folkbokföring", "Skyddad", ""),
    ("sekretess", "SEKRETESS", " nej "),
]


@pytest.mark.parametrize(("header", "yes", "no"), SPELLINGS)
def test_every_flag_spelling_excludes_and_counts_the_protected_rows(
    tmp_path: Path, header: str, yes: str, no: str
) -> None:
    export = _export(tmp_path, header, yes, no)
    profile = _init(tmp_path, export)
    out = tmp_path / "pkg"
    assert main(["-q", "pseudonymise", str(export), "--profile", str(profile),
                 "--out", str(out), "--as-of", AS_OF]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["rows_excluded"]["protected_identity"] == 2
    assert report["rows_accepted"] == 18


def test_an_unreadable_flag_value_excludes_the_row(tmp_path: Path) -> None:
    export = _export(tmp_path, "Skyddad identitet", "kanske", "Nej")
    profile = _init(tmp_path, export)
    reports = tmp_path / "reports"
    main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF,
          "--report", str(reports), "--max-error-rate", "0.2"])  # fmt: skip
    (path,) = reports.glob("*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["rows_accepted"] == 18
    assert {p["column"] for p in report["problems"]} == {"Skyddad identitet"}


def _unmap_flag(profile: Path) -> None:
    text = profile.read_text(encoding="utf-8")
    text, n = re.subn(r"^protected_identity = .*\n", "", text, flags=re.MULTILINE)
    assert n == 1
    profile.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("command", ["check", "pseudonymise"])
def test_an_unmapped_flag_column_stops_with_exit_2_and_nothing_written(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(tmp_path, "Sekretessmarkering", "J", "N")
    profile = _init(tmp_path, export)
    _unmap_flag(profile)
    out = tmp_path / "pkg"
    extra = ["--out", str(out)] if command == "pseudonymise" else []
    code = main(["-q", command, str(export), "--profile", str(profile), "--as-of", AS_OF, *extra])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no column is mapped to protected_identity" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".pkg*"))
    assert not (profile.parent / "reports").exists()
    assert not (profile.parent / "refs.parquet").exists()


def test_an_export_without_a_flag_needs_the_explicit_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["Löpnr;Personnummer;Fr.o.m."] + [f"{i};{_pnr(i)};2020-01-01" for i in range(1, 21)]
    export = tmp_path / "export.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = _init(tmp_path, export)
    assert main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF]) == 2
    assert "no column is mapped to protected_identity" in " ".join(capsys.readouterr().err.split())

    (tmp_path / "again").mkdir()
    stated = _init(tmp_path / "again", export, "--no-protected-identities", "Anna Berg, 2026-12-03")
    assert "protected_identity_confirmed_by" in stated.read_text(encoding="utf-8")
    assert main(["-q", "check", str(export), "--profile", str(stated), "--as-of", AS_OF]) == 0


@pytest.mark.parametrize(
    "header",
    ["Skyddad identitet", "Sekretessmarkering", "Skyddad folkbokföring", "skyddad", "protected",
     "sekretess", "spärr", "Sekr.", "Protected identity"],
)  # fmt: skip
def test_flag_headers_are_recognised(header: str) -> None:
    assert looks_like_protection_flag(header)


@pytest.mark.parametrize("header", ["Andrahandsuthyrning", "Efternamn", "Street", "Kontraktsnr"])
def test_other_headers_are_not_flags(header: str) -> None:
    assert not looks_like_protection_flag(header)


def test_a_second_flag_column_left_unmapped_stops_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(tmp_path, "Skyddad identitet", "Ja", "Nej")
    profile = _init(tmp_path, export)
    text = export.read_text(encoding="utf-8").splitlines()
    text = [text[0] + ";Sekretess"] + [line + ";" for line in text[1:]]
    export.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF]) == 2
    assert 'column "Sekretess" looks like a protection flag' in " ".join(
        capsys.readouterr().err.split()
    )


# --- a flag known only by its values (a header that names nothing) -------------------------


@pytest.mark.parametrize(
    ("header", "yes", "no"),
    [("F7", "J", "N"), ("kod2", "X", ""), ("F7", "Ja", "Nej"), ("kod2", "1", "0"),
     ("F7", "true", "false"), ("kod2", "Y", "N"), ("F7", "Skyddad", "")],
)  # fmt: skip
def test_a_flag_with_a_meaningless_header_is_recognised_by_its_values(
    tmp_path: Path, header: str, yes: str, no: str
) -> None:
    export = _export(tmp_path, header, yes, no)
    profile = _init(tmp_path, export)
    text = profile.read_text(encoding="utf-8")
    assert f'protected_identity = "{header}"' in text
    reports = tmp_path / "reports"
    assert main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF,
                 "--report", str(reports)]) == 0  # fmt: skip
    (path,) = reports.glob("*.json")
    assert json.loads(path.read_text(encoding="utf-8"))["rows_excluded"]["protected_identity"] == 2


def _state_no_flag(profile: Path, *, not_flags: str | None = None) -> None:
    """The profile says the export holds no protected identities (and maps no flag)."""
    text = profile.read_text(encoding="utf-8")
    text = re.sub(r"^protected_identity = .*\n", "", text, flags=re.MULTILINE)
    text = re.sub(
        r"^\[constants\].*$",
        '[constants]\nprotected_identity = false\nprotected_identity_confirmed_by = "Anna Berg"',
        text,
        count=1,
        flags=re.MULTILINE,
    )
    if not_flags is not None:
        text = text.replace('# not_flags = ["Andrahand J/N"]', f'not_flags = ["{not_flags}"]')
    profile.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("command", ["check", "pseudonymise"])
def test_an_unmapped_column_with_flag_values_stops_with_exit_2_naming_it_and_the_fix(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(tmp_path, "F7", "J", "N")
    profile = _init(tmp_path, export)
    _state_no_flag(profile)
    out = tmp_path / "pkg"
    extra = ["--out", str(out)] if command == "pseudonymise" else []
    code = main(["-q", command, str(export), "--profile", str(profile), "--as-of", AS_OF, *extra])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert 'column "F7" holds only yes/no-like values' in err
    assert "protected_identity under [mapping]" in err
    assert '[protection] not_flags = ["F7"]' in err
    assert not out.exists()
    assert not (profile.parent / "reports").exists()
    assert not (profile.parent / "refs.parquet").exists()


def test_a_column_declared_not_a_flag_lets_check_run(tmp_path: Path) -> None:
    export = _export(tmp_path, "kod2", "J", "N")
    profile = _init(tmp_path, export)
    _state_no_flag(profile, not_flags="kod2")
    assert main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF]) == 0


def test_a_yes_no_column_mapped_to_another_field_or_beside_a_mapped_flag_is_no_flag(
    tmp_path: Path,
) -> None:
    lines = ["Löpnr;Personnummer;Fr.o.m.;Andrahand;kod3;Skyddad identitet"]
    lines += [f"{i};{_pnr(i)};2020-01-01;{'J' if i == 4 else 'N'};J;Nej" for i in range(1, 21)]
    export = tmp_path / "export.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = _init(tmp_path, export)
    text = profile.read_text(encoding="utf-8")
    assert 'sublet_approved = "Andrahand"' in text
    assert 'protected_identity = "Skyddad identitet"' in text
    # the flag is mapped: the unexplained yes/no column "kod3" stays local
    assert main(["-q", "check", str(export), "--profile", str(profile), "--as-of", AS_OF]) == 0

    # no flag in the export, stated on purpose; sublet is mapped, so it explains "Andrahand"
    lines = [";".join(line.split(";")[:4]) for line in lines]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "again").mkdir()
    stated = _init(tmp_path / "again", export, "--no-protected-identities", "Anna Berg")
    assert 'sublet_approved = "Andrahand"' in stated.read_text(encoding="utf-8")
    assert main(["-q", "check", str(export), "--profile", str(stated), "--as-of", AS_OF]) == 0


def test_not_flags_can_not_name_the_mapped_flag(tmp_path: Path) -> None:
    from connectors.errors import ProfileError
    from connectors.profile import load_profile

    export = _export(tmp_path, "Skyddad identitet", "J", "N")
    profile = _init(tmp_path, export)
    text = profile.read_text(encoding="utf-8").replace(
        '# not_flags = ["Andrahand J/N"]', 'not_flags = ["Skyddad identitet"]'
    )
    profile.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="can not also be declared not a protection flag"):
        load_profile(profile)
