"""Normalisation and validation of a mapped extract: what the data officer sees in the
normalised frame (values, exclusions, problems with row and source column)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import phonenumbers
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import ProfileError
from connectors.normalise import PROBLEM_DTYPE, NormaliseOptions, normalise
from connectors.record import NORMALISED_COLUMNS

AS_OF = date(2025, 6, 1)
ADULT = "880320-0016"  # 37 on AS_OF
MINOR = "100101-0006"  # born 2010-01-01: 15 on AS_OF


def run(
    rows: list[Mapping[str, str | None]],
    options: NormaliseOptions | None = None,
    as_of: date = AS_OF,
) -> pl.DataFrame:
    """Normalise rows (file rows 2, 3, ...); required fields get defaults unless given."""
    defaults = {"record_id": None, "national_id": ADULT, "contract_start": "2020-01-01"}
    filled = [{**defaults, **row} for row in rows]
    for index, row in enumerate(filled):
        if row["record_id"] is None and "record_id" not in rows[index]:
            row["record_id"] = f"R{index}"
    columns = sorted({key for row in filled for key in row})
    frame = pl.LazyFrame(
        {
            "row": pl.Series(range(2, len(filled) + 2), dtype=pl.UInt32),
            **{
                name: pl.Series([row.get(name) for row in filled], dtype=pl.String)
                for name in columns
            },
        }
    )
    return normalise(frame, options or NormaliseOptions(), as_of).collect()


def problems(out: pl.DataFrame, row: int) -> list[dict[str, Any]]:
    found = out.filter(pl.col("row") == row)["problems"].to_list()[0]
    assert isinstance(found, list)
    return found


def test_output_has_every_normalised_column_and_keeps_all_rows() -> None:
    out = run([{"national_id": ADULT}, {"national_id": "garbage"}])
    assert out.height == 2
    for name, dtype in NORMALISED_COLUMNS.items():
        assert out.schema[name] == getattr(pl, dtype)(), name
    assert out.schema["protected_identity"] == pl.Boolean
    assert out.schema["exclusion"] == pl.String
    assert out.schema["problems"] == pl.List(PROBLEM_DTYPE)
    assert out["exclusion"].to_list() == [None, "invalid_national_id"]
    # Unmapped optional fields are typed nulls.
    assert out["phone"].to_list() == [None, None]
    assert out["contract_type"].to_list() == [None, None]


def test_national_id_canonical_and_birth_date_from_the_id() -> None:
    out = run([{"national_id": "8803200016"}, {"national_id": "19880320-0016"}])
    assert out["national_id"].to_list() == ["198803200016", "198803200016"]
    assert out["birth_date"].to_list() == [date(1988, 3, 20)] * 2


# --- names -------------------------------------------------------------------------------


def test_name_keys_survive_case_diacritics_spacing_and_mojibake() -> None:
    once = "Åsa Öberg".encode().decode("cp1252")  # "Ã…sa Ã–berg"
    twice = once.encode().decode("cp1252")
    variants = ["Åsa Öberg", "Asa Oberg", "ASA  ÖBERG", once, twice, " a\u030asa o\u0308berg "]
    out = run([{"first_name": v.split()[0], "last_name": v.split()[-1]} for v in variants])
    assert out["first_name_key"].to_list() == ["asa"] * len(variants)
    assert out["last_name_key"].to_list() == ["oberg"] * len(variants)
    # Display forms keep what the register says, only tidied (NFC, trimmed).
    assert out["first_name"].to_list()[0] == "Åsa"
    assert out["first_name"].to_list()[-1] == "åsa"  # decomposed input, NFC output


def test_double_names_punctuation_and_foreign_letters_fold() -> None:
    out = run(
        [
            {"first_name": "Anna-Karin", "last_name": "O'Brien-Müller"},
            {"first_name": "Anna   Karin", "last_name": "Straße Ødegård"},
        ]
    )
    assert out["first_name_key"].to_list() == ["anna karin", "anna karin"]
    assert out["last_name_key"].to_list() == ["obrien muller", "strasse odegard"]


def test_full_name_is_split_on_comma_or_last_word() -> None:
    out = run(
        [
            {"full_name": "Öberg, Åsa Maria"},
            {"full_name": "Åsa  Maria Öberg"},
            {"full_name": "Öberg"},
        ]
    )
    assert out["last_name"].to_list() == ["Öberg", "Öberg", "Öberg"]
    assert out["first_name"].to_list() == ["Åsa Maria", "Åsa Maria", None]
    assert out["first_name_key"].to_list() == ["asa maria", "asa maria", None]


# --- address -----------------------------------------------------------------------------


def test_street_address_is_split_into_name_number_and_letter() -> None:
    out = run(
        [
            {"street_address": "Storgatan 12 B"},
            {"street_address": " Storg. 12b "},
            {"street_address": "Kungsv. 7"},
            {"street_address": "Ringvägen 3, lgh 1102"},
            {"street_address": "Lilla Torget"},
        ]
    )
    assert out["street_name_key"].to_list() == [
        "storgatan",
        "storgatan",
        "kungsvagen",
        "ringvagen",
        "lilla torget",
    ]
    assert out["street_number"].to_list() == ["12", "12", "7", "3", None]
    assert out["street_letter"].to_list() == ["b", "b", None, None, None]
    assert out["street_address"].to_list()[1] == "Storg. 12b"


def test_postal_code_city_and_apartment() -> None:
    options = NormaliseOptions(source_columns={"postal_code": "Postnr", "apartment_number": "Lgh"})
    out = run(
        [
            {"postal_code": "581 83", "city": " LINKÖPING ", "apartment_number": "Lgh 1102"},
            {"postal_code": "SE-58183", "city": "Linkoping", "apartment_number": "1102"},
            {"postal_code": "5818", "apartment_number": "12"},
        ],
        options,
    )
    assert out["postal_code"].to_list() == ["58183", "58183", None]
    assert out["city"].to_list()[0] == "LINKÖPING"
    assert out["city_key"].to_list()[:2] == ["linkoping", "linkoping"]
    assert out["apartment_number"].to_list() == ["1102", "1102", None]
    found = problems(out, 4)
    assert [(p["column"], p["severity"], p["value"]) for p in found] == [
        ("Postnr", "warning", "5818"),
        ("Lgh", "warning", "12"),
    ]
    assert out["exclusion"].to_list() == [None, None, None]  # warnings do not exclude


# --- phone and e-mail --------------------------------------------------------------------


def test_phone_numbers_become_e164() -> None:
    out = run(
        [
            {"phone": "070-123 45 67"},
            {"phone": "+46 8 123 456 78"},
            {"phone": "0046701234567"},
            {"phone": "(08) 123 456 78"},
            {"phone": "+47 22 12 34 56"},
            {"phone": "12"},
        ]
    )
    assert out["phone"].to_list() == [
        "+46701234567",
        "+46812345678",
        "+46701234567",
        "+46812345678",
        "+4722123456",
        None,
    ]
    assert [p["column"] for p in problems(out, 7)] == ["phone"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["0", "+46", "0046", "+46 ", "", "+460", "(0)"]),
            st.text(alphabet="0123456789", min_size=1, max_size=12),
            st.sampled_from(["", " ", "-"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_phone_fast_path_equals_phonenumbers(parts: list[tuple[str, str, str]]) -> None:
    texts = [prefix + sep.join([digits[:2], digits[2:]]) for prefix, digits, sep in parts]
    out = run([{"phone": text} for text in texts])

    def oracle(text: str) -> str | None:
        try:
            number = phonenumbers.parse(text, "SE")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    assert out["phone"].to_list() == [oracle(text) for text in texts]


def test_email_is_trimmed_and_lower_cased_or_warned() -> None:
    out = run([{"email": " Anna@Example.SE "}, {"email": "anna at example"}, {"email": "a b@c.se"}])
    assert out["email"].to_list() == ["anna@example.se", None, None]
    assert [p["reason"] for p in problems(out, 3)] == ["invalid_value"]
    assert [p["severity"] for p in problems(out, 4)] == ["warning"]


# --- categories --------------------------------------------------------------------------


def test_contract_type_synonyms_profile_values_and_unknown() -> None:
    options = NormaliseOptions(contract_type_values={"BOA": "residential"})
    out = run(
        [
            {"contract_type": "Lägenhet"},
            {"contract_type": "P-PLATS"},
            {"contract_type": "förråd"},
            {"contract_type": "Korridorrum"},
            {"contract_type": "kontor"},
            {"contract_type": "boa"},
            {"contract_type": "villa"},
        ],
        options,
    )
    assert out["contract_type"].to_list() == [
        "residential",
        "parking",
        "storage",
        "student",
        "commercial",
        "residential",
        None,
    ]
    assert out["exclusion"].to_list()[-1] == "invalid_value"
    (problem,) = problems(out, 8)
    assert problem["column"] == "contract_type" and problem["value"] == "villa"
    assert "parking (parkering" in problem["expected"]


def test_tenant_role_and_sublet() -> None:
    out = run(
        [
            {"tenant_role": "Huvudhyresgäst", "sublet_approved": "Ja"},
            {"tenant_role": "medhyresgäst", "sublet_approved": "nej"},
            {"tenant_role": "andrahandshyresgäst", "sublet_approved": "kanske"},
        ]
    )
    assert out["tenant_role"].to_list() == ["primary", "co_tenant", None]
    assert out["sublet_approved"].to_list() == [True, False, None]
    assert [p["column"] for p in problems(out, 4)] == ["tenant_role", "sublet_approved"]
    assert out["exclusion"].to_list() == [None, None, None]


# --- dates -------------------------------------------------------------------------------


def test_dates_iso_xlsx_and_profile_formats() -> None:
    options = NormaliseOptions(date_formats={"contract_start": ("%d/%m/%Y", "%Y%m%d")})
    out = run(
        [
            {"contract_start": "2021-02-03"},
            {"contract_start": "2021-02-03 00:00:00"},
            {"contract_start": "03/02/2021"},
            {"contract_start": "20210203", "contract_end": ""},
        ],
        options,
    )
    assert out["contract_start"].to_list() == [date(2021, 2, 3)] * 4
    assert out["contract_end"].to_list() == [None] * 4  # empty = ongoing


def test_birth_date_column_disagreeing_with_the_id_warns_and_keeps_the_id() -> None:
    options = NormaliseOptions(source_columns={"birth_date": "Födelsedatum"})
    out = run([{"birth_date": "1988-03-21"}, {"birth_date": "1988-03-20"}], options)
    assert out["birth_date"].to_list() == [date(1988, 3, 20)] * 2
    assert [(p["column"], p["reason"], p["severity"]) for p in problems(out, 2)] == [
        ("Födelsedatum", "inconsistent_value", "warning")
    ]
    assert problems(out, 3) == []


def test_generic_ids_take_the_birth_date_column() -> None:
    options = NormaliseOptions(national_id_scheme="generic")
    out = run(
        [
            {"national_id": " X-1 ", "birth_date": "1970-05-05"},
            {"national_id": "X-2", "birth_date": "2015-05-05"},
        ],
        options,
    )
    assert out["national_id"].to_list() == ["X-1", "X-2"]
    assert out["birth_date"].to_list() == [date(1970, 5, 5), date(2015, 5, 5)]
    assert out["exclusion"].to_list() == [None, "minor"]
    assert problems(out, 3)[0]["column"] == "birth_date"


@pytest.mark.parametrize("scheme", ["generic", "se-personnummer"])
def test_an_impossible_birth_date_is_dropped_with_a_warning_and_the_row_kept(scheme: str) -> None:
    # FEBRL-style typos: day 93 of April, month 00. The birth date is optional, so losing the
    # whole row (and its contract) would cost a match the national id alone can make.
    options = NormaliseOptions(
        national_id_scheme=scheme,
        date_formats={"birth_date": ("%Y%m%d",)},
        source_columns={"birth_date": "dob"},
    )
    nid = "X-1" if scheme == "generic" else ADULT
    out = run(
        [
            {"national_id": nid, "birth_date": "19450493"},
            {"national_id": nid, "birth_date": "19880020"},
        ],
        options,
    )
    assert out["exclusion"].to_list() == [None, None]
    assert out["national_id"].null_count() == 0
    # A personnummer still gives the birth date; a generic id leaves it unknown.
    expected = None if scheme == "generic" else date(1988, 3, 20)
    assert out["birth_date"].to_list() == [expected, expected]
    for row, value in ((2, "19450493"), (3, "19880020")):
        (problem,) = problems(out, row)
        assert (problem["column"], problem["reason"], problem["severity"], problem["value"]) == (
            "dob",
            "unparseable_date",
            "warning",
            value,
        )
        assert "YYYYMMDD" in problem["expected"]


# --- exclusions --------------------------------------------------------------------------

SOURCES = NormaliseOptions(
    source_columns={
        "record_id": "Kundnr",
        "national_id": "Personnummer",
        "contract_start": "Inflyttning",
        "contract_end": "Avflyttning",
        "protected_identity": "Skyddad",
    }
)


@pytest.mark.parametrize(
    ("row", "reason", "column", "value"),
    [
        ({"record_id": "  "}, "missing_required", "Kundnr", "  "),
        ({"national_id": None}, "missing_required", "Personnummer", ""),
        ({"contract_start": ""}, "missing_required", "Inflyttning", ""),
        ({"national_id": "880320-0018"}, "invalid_national_id", "Personnummer", "880320-0018"),
        ({"contract_start": "3rd May"}, "unparseable_date", "Inflyttning", "3rd May"),
        ({"contract_end": "soon"}, "unparseable_date", "Avflyttning", "soon"),
        ({"contract_end": "2019-12-31"}, "invalid_value", "Avflyttning", "2019-12-31"),
        ({"protected_identity": "JA"}, "protected_identity", "Skyddad", "JA"),
        ({"protected_identity": "kanske"}, "invalid_value", "Skyddad", "kanske"),
        ({"national_id": MINOR}, "minor", "Personnummer", MINOR),
    ],
)
def test_each_exclusion_names_row_and_source_column(
    row: dict[str, str | None], reason: str, column: str, value: str
) -> None:
    good = {"record_id": "OK", "contract_end": "2024-01-01", "protected_identity": "nej"}
    bad = {"record_id": "BAD", "contract_end": None, **row}
    out = run([good, bad], SOURCES)
    assert out["exclusion"].to_list() == [None, reason]
    assert problems(out, 2) == []
    first = problems(out, 3)[0]
    assert (first["reason"], first["column"], first["value"], first["severity"]) == (
        reason,
        column,
        value,
        "excluded",
    )
    assert first["expected"]


def test_protected_rows_report_nothing_but_that() -> None:
    out = run([{"protected_identity": "x", "national_id": "garbage", "email": "no"}])
    assert out["exclusion"].to_list() == ["protected_identity"]
    assert out["protected_identity"].to_list() == [True]
    assert [p["reason"] for p in problems(out, 2)] == ["protected_identity"]


def test_blank_protected_identity_means_not_protected() -> None:
    out = run([{"protected_identity": ""}, {"protected_identity": "Nej"}, {}])
    assert out["protected_identity"].to_list() == [False, False, False]
    assert out["exclusion"].to_list() == [None, None, None]


def test_minor_age_is_counted_on_the_extract_date() -> None:
    # Born 2007-06-02: 17 on 2025-06-01, 18 on 2025-06-02.
    number = "070602-0005"
    assert run([{"national_id": number}])["exclusion"].to_list() == ["minor"]
    assert run([{"national_id": number}], as_of=date(2025, 6, 2))["exclusion"].to_list() == [None]


def test_duplicate_record_ids_keep_the_first_and_name_its_row() -> None:
    out = run(
        [{"record_id": "K1"}, {"record_id": "K2"}, {"record_id": " K1"}, {"record_id": "K1"}],
        SOURCES,
    )
    assert out["exclusion"].to_list() == [None, None, "duplicate_record_id", "duplicate_record_id"]
    for row in (4, 5):
        (problem,) = problems(out, row)
        assert problem["column"] == "Kundnr"
        assert problem["expected"] == "a record id used once (first seen on row 2)"


def test_first_exclusion_wins_but_every_problem_is_listed() -> None:
    out = run([{"record_id": "", "national_id": "bad", "contract_start": "x"}], SOURCES)
    assert out["exclusion"].to_list() == ["missing_required"]
    assert [p["reason"] for p in problems(out, 2)] == [
        "missing_required",
        "invalid_national_id",
        "unparseable_date",
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"national_id_scheme": "se-id"},
        {"contract_type_values": {"villa": "house"}},
        {"tenant_role_values": {"inneboende": "lodger"}},
        {"date_formats": {"phone": ("%Y",)}},
        {"phone_region": "XX"},
    ],
)
def test_wrong_options_are_profile_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ProfileError):
        NormaliseOptions(**options)
