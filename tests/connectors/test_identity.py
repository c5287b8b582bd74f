"""National id parsing: known answers per scheme, every accepted spelling of one personnummer
gives one canonical form, and the vectorised Swedish parser agrees with the stdnum-based one."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn

from connectors.errors import ProfileError
from connectors.identity import (
    SCHEMES,
    InvalidNationalId,
    NationalId,
    expected_form,
    parse_national_id,
    with_national_ids,
)

AS_OF = date(2025, 6, 1)
SE = "se-personnummer"


def pnr(ten_without_check: str) -> str:
    """A 10-digit personnummer (no separator) with its Luhn check digit."""
    return ten_without_check + luhn.calc_check_digit(ten_without_check)


@pytest.mark.parametrize(
    "raw",
    [
        "880320-0016",
        "8803200016",
        "198803200016",
        "19880320-0016",
        "880320 0016",
        " 880320 - 0016 ",
        "19880320 0016",
        "880320\t0016",
        "1988\u201303\u201320\u20130016",  # en dashes, as pasted from a word processor
    ],
)
def test_every_accepted_form_gives_one_canonical(raw: str) -> None:
    assert parse_national_id(raw, SE, AS_OF) == NationalId("198803200016", date(1988, 3, 20), False)


def test_vectorised_forms_give_one_canonical() -> None:
    forms = ["880320-0016", "8803200016", "198803200016", "19880320-0016", " 880320 0016"]
    frame = pl.LazyFrame({"id": forms})
    out = with_national_ids(frame, "id", SE, AS_OF, "p").collect().unnest("p")
    assert out["canonical"].to_list() == ["198803200016"] * len(forms)
    assert out["birth_date"].to_list() == [date(1988, 3, 20)] * len(forms)


def test_samordningsnummer_birth_date_is_day_minus_60() -> None:
    number = pnr("880380001")  # day 80 = 20th + 60
    parsed = parse_national_id(number[:6] + "-" + number[6:], SE, AS_OF)
    assert parsed.coordination is True
    assert parsed.birth_date == date(1988, 3, 20)
    # The canonical form is the number itself: the +60 stays, or tokens would collide.
    assert parsed.canonical == "19" + number


def test_plus_separator_means_a_hundred_years_older() -> None:
    assert parse_national_id("880320+0016", SE, AS_OF).birth_date == date(1888, 3, 20)
    assert parse_national_id("880320+0016", SE, AS_OF).canonical == "188803200016"


def test_century_of_short_forms_comes_from_the_extract_date() -> None:
    number = pnr("240315123")
    # Born 15 March: on 1 March 2024 a 2024 birth date would be in the future.
    assert parse_national_id(number, SE, date(2024, 3, 1)).birth_date == date(1924, 3, 15)
    assert parse_national_id(number, SE, date(2024, 3, 20)).birth_date == date(2024, 3, 15)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("880320-0018", "bad_check_digit"),
        ("881320-0016", "bad_date"),  # month 13
        ("20990320" + pnr("990320001")[6:], "bad_date"),  # born after the extract date
        ("880320-001", "bad_format"),
        ("not an id", "bad_format"),
        ("", "bad_format"),
    ],
)
def test_invalid_personnummer_says_why_without_the_value(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as caught:
        parse_national_id(raw, SE, AS_OF)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    if raw:
        assert raw not in str(caught.value)
    assert "YYMMDD-NNNC" in str(caught.value)


@pytest.mark.parametrize(
    ("scheme", "raw", "canonical", "birth"),
    [
        ("no-fodselsnummer", "151086 95088", "15108695088", date(1986, 10, 15)),
        ("dk-cpr", "010190-1234", "0101901234", date(1990, 1, 1)),
        ("fi-hetu", "131052-308t", "131052-308T", date(1952, 10, 13)),
        ("generic", "  AB-123 ", "AB-123", None),
    ],
)
def test_known_answers_of_other_schemes(
    scheme: str, raw: str, canonical: str, birth: date | None
) -> None:
    parsed = parse_national_id(raw, scheme, AS_OF)
    assert (parsed.canonical, parsed.birth_date) == (canonical, birth)
    frame = pl.LazyFrame({"id": [raw, None]})
    out = with_national_ids(frame, "id", scheme, AS_OF, "p").collect().unnest("p")
    assert out["canonical"].to_list() == [canonical, None]


@pytest.mark.parametrize(
    ("scheme", "raw"),
    [
        ("no-fodselsnummer", "15108695089"),
        ("dk-cpr", "320190-1234"),
        ("fi-hetu", "131052-308U"),
        ("generic", "   "),
    ],
)
def test_invalid_ids_of_other_schemes(scheme: str, raw: str) -> None:
    with pytest.raises(InvalidNationalId):
        parse_national_id(raw, scheme, AS_OF)


def test_unknown_scheme_is_a_profile_error() -> None:
    with pytest.raises(ProfileError, match="se-personnummer"):
        parse_national_id("880320-0016", "xx-id", AS_OF)


def test_every_scheme_has_an_expected_form() -> None:
    assert all(expected_form(scheme) for scheme in SCHEMES)


# --- the vectorised parser against the stdnum-based one ----------------------------------


@st.composite
def personnummer_like(draw: st.DrawFn) -> str:
    """Valid numbers in every form, plus damaged ones (digits, separators, dates, lengths)."""
    year = draw(st.integers(1890, 2030))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32)) + draw(st.sampled_from([0, 0, 60]))
    serial = draw(st.integers(0, 999))
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    check = luhn.calc_check_digit(nine)
    if draw(st.booleans()):
        check = str(draw(st.integers(0, 9)))
    ten = nine + check
    prefix = f"{year // 100:02d}" if draw(st.booleans()) else ""
    separator = draw(st.sampled_from(["", "-", "+", " - ", " "]))
    text = draw(st.sampled_from(["", " ", "\t", ":"])) + prefix + ten[:6] + separator + ten[6:]
    mutation = draw(st.sampled_from(["none", "none", "drop", "insert", "junk"]))
    if mutation == "drop":
        position = draw(st.integers(0, len(text) - 1))
        text = text[:position] + text[position + 1 :]
    elif mutation == "insert":
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.sampled_from("0123456789-+ :x\u2013")) + text[position:]
    elif mutation == "junk":
        text = draw(st.text(max_size=14))
    return text


def _oracle(raw: str, as_of: date) -> tuple[str | None, date | None, bool | None, str | None]:
    try:
        parsed = parse_national_id(raw, SE, as_of)
    except InvalidNationalId as error:
        return (None, None, None, error.reason)
    return (parsed.canonical, parsed.birth_date, parsed.coordination, None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(personnummer_like(), min_size=1, max_size=60),
    as_of=st.dates(date(1995, 1, 1), date(2035, 12, 31)),
)
def test_vectorised_personnummer_equals_parse_national_id(values: list[str], as_of: date) -> None:
    frame = pl.LazyFrame({"id": values}, schema={"id": pl.String})
    out = with_national_ids(frame, "id", SE, as_of, "p").collect().unnest("p")
    got = list(out.select("canonical", "birth_date", "coordination", "reason").iter_rows())
    assert got == [_oracle(value, as_of) for value in values]
