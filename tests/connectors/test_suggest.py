"""Mapping suggestions: the three synthetic headers must work as suggested, nothing forbidden
is ever suggested, and unclear cases end up in `checks` instead of in the mapping."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from connectors.extract import RAW_ROW_COLUMN, Detected, RawExtract, SourceOptions, read_sample
from connectors.profile import apply_mapping, load_profile, render_profile
from connectors.record import ROW_COLUMN
from connectors.suggest import field_for_name, suggest_mapping

DATA = Path(__file__).resolve().parents[1] / "data"

EXPECTED = {
    "good_semicolon_cp1252.csv": {
        "record_id": "Löpnr",
        "contract_id": "Kontraktsnr",
        "national_id": "Personnummer",
        "first_name": "Förnamn",
        "last_name": "Efternamn",
        "street_address": "Gatuadress",
        "postal_code": "Postnr",
        "city": "Ort",
        "apartment_number": "Lgh nr",
        "contract_type": "Objekttyp",
        "contract_start": "Fr.o.m.",
        "contract_end": "T.o.m.",
        "phone": "Telefon",
        "email": "E-post",
        "tenant_role": "Roll",
        "sublet_approved": "Andrahandsuthyrning godkänd",
        "protected_identity": "Skyddad identitet",
    },
    "good_hyresgaster.xlsx": {
        "record_id": "ID",
        "national_id": "Personnr",
        "full_name": "Namn",
        "street_address": "Adress",
        "postal_code": "Postnummer",
        "city": "Postort",
        "apartment_number": "Lägenhetsnummer",
        "contract_id": "Kontraktsnummer",
        "contract_start": "Inflyttning",
        "contract_end": "Avflyttning",
        "contract_type": "Objekttyp",
        "phone": "Mobil",
        "email": "Epost",
        "protected_identity": "Skyddad",
    },
    "good_english.csv": {
        "record_id": "Record ID",
        "national_id": "National ID",
        "first_name": "First name",
        "last_name": "Last name",
        "street_address": "Street address",
        "postal_code": "Postal code",
        "city": "City",
        "apartment_number": "Apartment no",
        "contract_id": "Contract no",
        "contract_start": "Start date",
        "contract_end": "End date",
        "contract_type": "Contract type",
        "phone": "Phone",
        "email": "Email",
        "tenant_role": "Tenant role",
        "sublet_approved": "Sublet approved",
        "protected_identity": "Protected identity",
    },
}


def sample_of(columns: dict[str, list[str | None]]) -> RawExtract:
    rows = len(next(iter(columns.values())))
    frame = pl.DataFrame(
        {RAW_ROW_COLUMN: list(range(2, rows + 2)), **columns},
        schema_overrides={RAW_ROW_COLUMN: pl.UInt32, **{c: pl.String for c in columns}},
    )
    return RawExtract(frame, Detected("csv", "utf-8", ",", None, 1), ())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_suggested_mapping_is_usable_as_is(name: str, tmp_path: Path) -> None:
    sample = read_sample(DATA / name, SourceOptions())

    suggestion = suggest_mapping(sample)

    assert dict(suggestion.mapping) == EXPECTED[name]
    assert suggestion.missing_required == ()
    assert suggestion.unmapped == ()
    assert suggestion.checks == ()
    assert suggestion.date_formats == {
        "contract_start": ("%Y-%m-%d",),
        "contract_end": ("%Y-%m-%d",),
    }
    assert [c.column for c in suggestion.columns] == sample.frame.columns[1:]
    assert all(c.confidence == 1.0 for c in suggestion.columns)

    # As is: rendered, loaded and applied to the whole export without a single edit.
    path = tmp_path / "connector.toml"
    path.write_text(
        render_profile(
            "linbo",
            "http://127.0.0.1:8000",
            suggestion.mapping,
            suggestion.date_formats,
            SourceOptions(sheet=sample.detected.sheet),
        ),
        encoding="utf-8",
    )
    profile = load_profile(path)
    frame = apply_mapping(read_sample(DATA / name, profile.source, rows=1000), profile).collect()
    assert frame.height == 12
    assert set(frame.columns) == {ROW_COLUMN, *EXPECTED[name]}
    assert frame.get_column("national_id").null_count() == 0


def test_forbidden_looking_columns_are_never_mapped() -> None:
    sample = sample_of(
        {
            "Personnummer": ["198001011234"],
            "Nationalitet": ["SE"],
            "Språk": ["sv"],
            "Kön": ["K"],
        }
    )

    suggestion = suggest_mapping(sample)

    assert dict(suggestion.mapping) == {"national_id": "Personnummer"}
    assert set(suggestion.unmapped) == {"Nationalitet", "Språk", "Kön"}
    for column in ("Nationalitet", "Språk", "Kön"):
        assert any(column in line and "stays in the company" in line for line in suggestion.checks)


def test_two_columns_for_one_field_are_left_to_the_data_officer() -> None:
    sample = sample_of({"Personnummer": ["1"], "Pnr": ["1"], "Löpnr": ["1"]})

    suggestion = suggest_mapping(sample)

    assert "national_id" not in suggestion.mapping
    assert suggestion.missing_required == ("national_id", "contract_start")
    assert any('"Personnummer" and "Pnr"' in line for line in suggestion.checks)
    assert any("national_id (required)" in line for line in suggestion.checks)


def test_near_miss_is_mapped_with_a_check_line() -> None:
    sample = sample_of({"Telefonnr": ["070-1234567"]})

    suggestion = suggest_mapping(sample)
    (column,) = suggestion.columns

    assert suggestion.mapping == {"phone": "Telefonnr"}
    assert 0.8 <= column.confidence < 0.9
    assert any('"Telefonnr" really is phone' in line for line in suggestion.checks)


def test_unrelated_columns_stay_unmapped() -> None:
    sample = sample_of({"Hyra": ["8123"], "Kommentar": ["-"], "Personnr": ["1"]})

    suggestion = suggest_mapping(sample)

    assert suggestion.unmapped == ("Hyra", "Kommentar")
    assert [c.field for c in suggestion.columns] == [None, None, "national_id"]
    assert suggestion.columns[0].confidence == 0.0


@pytest.mark.parametrize(
    ("values", "formats"),
    [
        (["20230401", "19991231", None, ""], ("%Y%m%d",)),
        (["01/04/2023", "31/12/1999"], ("%d/%m/%Y",)),
        (["01.04.2023"], ("%d.%m.%Y",)),
        (["2023-04-01 00:00:00", "2023-04-01 12:00:00"], ("%Y-%m-%d %H:%M:%S",)),
        (["230401", "991231"], ("%y%m%d",)),
        (["2023-04-01", "20230401"], ("%Y-%m-%d", "%Y%m%d")),
    ],
)
def test_date_formats_are_sniffed_from_the_values(
    values: list[str | None], formats: tuple[str, ...]
) -> None:
    sample = sample_of({"Fr.o.m.": values})

    suggestion = suggest_mapping(sample)

    assert suggestion.date_formats == {"contract_start": formats}


def test_unknown_date_form_gets_a_check_line_with_its_row() -> None:
    sample = sample_of({"Startdatum": ["2023-04-01", "1 april 2023"]})

    suggestion = suggest_mapping(sample)

    # The format that reads the most values is chosen; the rest are listed by row.
    assert suggestion.mapping == {"contract_start": "Startdatum"}
    assert suggestion.date_formats == {"contract_start": ("%Y-%m-%d",)}
    assert any("Startdatum" in line and "rows 3" in line for line in suggestion.checks)


def test_bad_date_format_file_gets_a_check_line() -> None:
    suggestion = suggest_mapping(read_sample(DATA / "bad_date_format.csv", SourceOptions()))

    assert "contract_start" not in suggestion.date_formats
    assert any('"Start date" has dates in a form' in line for line in suggestion.checks)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("personnummer", "national_id"),
        ("Förnamn", "first_name"),
        ("fornamn", "first_name"),
        ("E-post", "email"),
        ("Lgh.nr", "apartment_number"),
        ("nationalitet", None),
        ("Hyra", None),
    ],
)
def test_field_for_name(name: str, field: str | None) -> None:
    assert field_for_name(name) == field
