"""The connector workflow on small hand-written exports: what lands in the package."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from stdnum import luhn

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.pipeline import pseudonymise_export
from connectors.profile import load_profile

HEADER = (
    "Record ID,National ID,First name,Last name,Street address,Postal code,City,"
    "Apartment no,Contract no,Start date,End date,Contract type,Phone,Email,Tenant role,"
    "Sublet approved,Protected identity"
)


def _pnr(birth: str, serial: str) -> str:
    """A valid 10-digit personnummer body (YYMMDD + NNN + check digit)."""
    body = birth[2:] + serial
    return body + luhn.calc_check_digit(body)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    assert main(["-q", "keys", "new-matching-key", "--out", str(tmp_path / "mk")]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    sample = tmp_path / "sample.csv"
    sample.write_text(HEADER + "\n", encoding="utf-8")
    ws = tmp_path / "ws"
    assert main(["-q", "init", str(ws), "--company", "motabo", "--matching-key",
                 str(tmp_path / "mk"), "--sample", str(sample), "--reveal-key",
                 str(tmp_path / "reveal.pub")]) == 0  # fmt: skip
    return ws / "connector.toml"


def _export(tmp_path: Path, ids: list[str]) -> Path:
    rows = [
        f"R{i},{national_id},Åsa,Öberg,Storgatan 1,58222,Linköping,1001,K{i},2024-01-01,,"
        "residential,,,primary,false,false"
        for i, national_id in enumerate(ids)
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_every_accepted_form_of_one_personnummer_gives_one_token(
    workspace: Path, tmp_path: Path
) -> None:
    short = _pnr("19850101", "123")
    forms = [
        f"{short[:6]}-{short[6:]}",  # YYMMDD-NNNC
        short,  # YYMMDDNNNC
        f"19{short}",  # YYYYMMDDNNNC
        f"19{short[:6]}-{short[6:]}",  # YYYYMMDD-NNNC
        f" {short[:6]} - {short[6:]} ",  # spaces around the separator
    ]
    out = tmp_path / "pkg"
    result = pseudonymise_export(
        _export(tmp_path, forms), load_profile(workspace), out, as_of=date(2026, 11, 1)
    )
    assert result.report.rows_accepted == len(forms)
    tokens = pl.read_parquet(out / "records.parquet")["token_national_id"]
    assert tokens.n_unique() == 1 and tokens.null_count() == 0


def test_plus_separator_means_a_hundred_years_older(workspace: Path, tmp_path: Path) -> None:
    short = _pnr("19200101", "456")
    out = tmp_path / "pkg"
    pseudonymise_export(
        _export(tmp_path, [f"{short[:6]}+{short[6:]}", f"19{short}", f"20{short}"]),
        load_profile(workspace),
        out,
        as_of=date(2026, 11, 1),
        max_error_rate=1.0,
    )
    records = pl.read_parquet(out / "records.parquet")
    # '+' puts the birth in 1920 (106 years old); 2020 would be a minor and is excluded.
    assert records.height == 2
    assert records["token_national_id"].n_unique() == 1


def test_a_sql_query_against_the_property_system_database_is_a_source(
    workspace: Path, tmp_path: Path
) -> None:
    import sqlite3

    database = tmp_path / "pms.sqlite"
    with sqlite3.connect(database) as db:
        db.execute(
            "CREATE TABLE hyresgaster (lopnr TEXT, pnr TEXT, fornamn TEXT, efternamn TEXT, "
            "fran DATE, till DATE, typ TEXT)"
        )
        db.executemany(
            "INSERT INTO hyresgaster VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ("1", _pnr("19700312", "221"), "Anna", "Berg", "2020-01-01", None, "Bostad"),
                ("2", _pnr("19881130", "713"), "Nils", "Ek", "2022-05-01", "2025-01-31", "P-plats"),
            ],
        )
    text = workspace.read_text(encoding="utf-8")
    start = text.index("\n[source]") + 1
    end = text.index("\n[mapping]") + 1
    mapping_end = text.index("\n[", end)
    source = (
        '[source]\nformat = "sql"\n'
        f'sql_url = "sqlite:///{database}"\n'
        'sql_query = "SELECT lopnr, pnr, fornamn, efternamn, fran, till, typ FROM hyresgaster"\n\n'
        '[mapping]\nrecord_id = "lopnr"\nnational_id = "pnr"\nfirst_name = "fornamn"\n'
        'last_name = "efternamn"\ncontract_start = "fran"\ncontract_end = "till"\n'
        'contract_type = "typ"\n'
    )
    # The table has no protection flag: say so, on purpose, as a data officer would.
    rest = re.sub(
        r"^\[constants\].*$",
        '[constants]\nprotected_identity = false\nprotected_identity_confirmed_by = "tests"',
        text[mapping_end:],
        count=1,
        flags=re.MULTILINE,
    )
    workspace.write_text(text[:start] + source + rest, encoding="utf-8")
    out = tmp_path / "pkg"
    code = main(["-q", "pseudonymise", "--profile", str(workspace), "--out", str(out),
                 "--as-of", "2026-11-01"])  # fmt: skip
    assert code == 0
    records = pl.read_parquet(out / "records.parquet")
    # Rows are shuffled in the package (contract v2), so compare as a multiset.
    assert sorted(records["contract_type"].to_list()) == ["parking", "residential"]
