"""National identity numbers: parse one value, or a whole column, into its canonical form.

Schemes (docs/architecture.md, "The canonical tenancy record"): ``se-personnummer`` (with
samordningsnummer), ``no-fodselsnummer``, ``dk-cpr``, ``fi-hetu`` (python-stdnum does the checks)
and ``generic`` (trimmed, no checksum, for data without a known scheme).

:func:`parse_national_id` is the reference for one value. :func:`national_id_expr` does the
same for a polars column: stdnum over the column's *unique* values costs about 8 s per million
ids on this machine, which alone would break the connector's 50,000 records/s budget, so the
common Swedish forms are parsed with polars expressions (regex, Luhn by digit arithmetic, date
check) and only values outside those forms go through :func:`parse_national_id`. A property
test keeps the two equal.

The canonical form is what gets tokenised: every accepted spelling of one number must give the
same canonical string, or one person would get several tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

import polars as pl
from stdnum import luhn
from stdnum.dk import cpr
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.fi import hetu
from stdnum.no import fodselsnummer
from stdnum.se import personnummer

from connectors.errors import ConnectorError, ProfileError

__all__ = [
    "NATIONAL_ID_DTYPE",
    "SCHEMES",
    "InvalidNationalId",
    "NationalId",
    "expected_form",
    "parse_national_id",
    "with_national_ids",
]

SCHEMES: Final[tuple[str, ...]] = (
    "se-personnummer",
    "no-fodselsnummer",
    "dk-cpr",
    "fi-hetu",
    "generic",
)

# Result of national_id_expr per row: `reason` is null when the id is valid; every other field
# is null when it is not (and for a null input).
NATIONAL_ID_DTYPE: Final = pl.Struct(
    {
        "canonical": pl.String,
        "birth_date": pl.Date,
        "coordination": pl.Boolean,
        "reason": pl.String,
    }
)

_EXPECTED: Final[dict[str, str]] = {
    "se-personnummer": (
        "a personnummer or samordningsnummer as YYMMDD-NNNC, YYMMDD+NNNC or YYYYMMDDNNNC "
        "with a valid check digit"
    ),
    "no-fodselsnummer": "an 11-digit fødselsnummer (DDMMYYNNNCC) with valid check digits",
    "dk-cpr": "a 10-digit CPR number as DDMMYY-NNNN",
    "fi-hetu": "a henkilötunnus as DDMMYYCNNNQ with a valid control character",
    "generic": "a non-empty identifier",
}

# Short, code-like reasons; they never contain the value.
_FORMAT: Final = "bad_format"
_LENGTH: Final = "bad_length"
_CHECK: Final = "bad_check_digit"
_DATE: Final = "bad_date"

# The oldest birth year accepted: a 12-digit id with an earlier year is a typing error.
_MIN_YEAR: Final = 1800

# A samordningsnummer adds 60 to the day of birth.
_COORDINATION_OFFSET: Final = 60


@dataclass(frozen=True)
class NationalId:
    """A valid national id in its scheme's canonical form."""

    canonical: str  # se: 12 digits YYYYMMDDNNNC; others: the scheme's compact form
    birth_date: date | None  # derived from the id (samordningsnummer: day - 60)
    coordination: bool  # samordningsnummer (se) or D-nummer (no)


class InvalidNationalId(ConnectorError, ValueError):
    """A value is not a valid national id of the scheme. The message never holds the value."""

    exit_code = 1

    def __init__(self, scheme: str, reason: str) -> None:
        self.scheme = scheme
        self.reason = reason
        super().__init__(
            f"not a valid {scheme} ({reason.replace('_', ' ')}); expected {expected_form(scheme)}"
        )


def expected_form(scheme: str) -> str:
    """Human text for the report's "expected" column."""
    _check_scheme(scheme)
    return _EXPECTED[scheme]


def parse_national_id(raw: str, scheme: str, as_of: date) -> NationalId:
    """Parse and check one id; `as_of` (the extract date) decides the century of short forms.

    Raises :class:`InvalidNationalId` (with a short ``reason``) for any value that is not valid.
    """
    _check_scheme(scheme)
    return _PARSERS[scheme](raw, as_of)


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ProfileError(
            f"unknown national id scheme {scheme!r}; expected one of {', '.join(SCHEMES)}"
        )


# --- se-personnummer -----------------------------------------------------------------------

_SE_COMPACT = re.compile(r"([0-9]{2})?([0-9]{2})([0-9]{2})([0-9]{2})([-+])([0-9]{4})")


def _parse_se(raw: str, as_of: date) -> NationalId:
    # All whitespace goes, then stdnum's compact (unicode dashes, ':' and a missing separator).
    try:
        number = personnummer.compact("".join(raw.split()))
    except ValidationError:
        raise InvalidNationalId("se-personnummer", _FORMAT) from None
    match = _SE_COMPACT.fullmatch(number)
    if match is None:
        raise InvalidNationalId("se-personnummer", _FORMAT)
    century, yy, mm, dd, separator, serial = match.groups()
    month, day_field = int(mm), int(dd)
    coordination = day_field > _COORDINATION_OFFSET
    day = day_field - _COORDINATION_OFFSET if coordination else day_field
    if century is not None:
        # The 12-digit form states the century; a separator, if any, adds nothing.
        year = int(century + yy)
    else:
        year = _se_short_year(int(yy), month, day, separator == "+", as_of)
    try:
        birth = date(year, month, day)
    except ValueError:
        raise InvalidNationalId("se-personnummer", _DATE) from None
    if birth > as_of or year < _MIN_YEAR:
        raise InvalidNationalId("se-personnummer", _DATE)
    if not luhn.is_valid(yy + mm + dd + serial):
        raise InvalidNationalId("se-personnummer", _CHECK)
    return NationalId(f"{year:04d}{mm}{dd}{serial}", birth, coordination)


def _se_short_year(yy: int, month: int, day: int, plus: bool, as_of: date) -> int:
    """The latest year ending in `yy` whose (month, day) is not after `as_of`; '+' = 100 older."""
    as_of_yy = as_of.year % 100
    not_after = (yy, month, day) <= (as_of_yy, as_of.month, as_of.day)
    year = as_of.year - as_of_yy + yy - (0 if not_after else 100)
    return year - 100 if plus else year


# --- other schemes (stdnum, with the "not born yet" check against as_of, not today) --------


def _stdnum_reason(error: ValidationError) -> str:
    if isinstance(error, InvalidChecksum):
        return _CHECK
    if isinstance(error, InvalidLength):
        return _LENGTH
    if isinstance(error, InvalidComponent):
        return _DATE
    return _FORMAT


def _parse_no(raw: str, as_of: date) -> NationalId:
    scheme = "no-fodselsnummer"
    try:
        number = fodselsnummer.compact(raw)
        if len(number) != 11:
            raise InvalidLength()
        if not number.isascii() or not number.isdigit():
            raise InvalidFormat()
        if number[-2] != fodselsnummer.calc_check_digit1(number) or number[
            -1
        ] != fodselsnummer.calc_check_digit2(number):
            raise InvalidChecksum()
        birth = fodselsnummer.get_birth_date(number)
    except ValidationError as error:
        raise InvalidNationalId(scheme, _stdnum_reason(error)) from None
    if birth > as_of:
        raise InvalidNationalId(scheme, _DATE)
    # D-nummer (foreigners' number, the Norwegian samordningsnummer) adds 40 to the day.
    return NationalId(number, birth, int(number[0]) >= 4)


def _parse_dk(raw: str, as_of: date) -> NationalId:
    scheme = "dk-cpr"
    try:
        number = cpr.compact(raw)
        if not number.isascii() or not number.isdigit():
            raise InvalidFormat()
        if len(number) != 10:
            raise InvalidLength()
        birth = cpr.get_birth_date(number)
    except ValidationError as error:
        raise InvalidNationalId(scheme, _stdnum_reason(error)) from None
    if birth > as_of:
        raise InvalidNationalId(scheme, _DATE)
    # CPR numbers have had no check digit since 2007: nothing more to check.
    return NationalId(number, birth, False)


# hetu's century signs (the 2023 reform added Y X W V U for 1900 and B-F for 2000).
_HETU_CENTURY: Final = {
    "+": 1800,
    **dict.fromkeys("-YXWVU", 1900),
    **dict.fromkeys("ABCDEF", 2000),
}


def _parse_fi(raw: str, as_of: date) -> NationalId:
    scheme = "fi-hetu"
    try:
        number = hetu.validate(raw)
    except ValidationError as error:
        raise InvalidNationalId(scheme, _stdnum_reason(error)) from None
    birth = date(_HETU_CENTURY[number[6]] + int(number[4:6]), int(number[2:4]), int(number[0:2]))
    if birth > as_of:
        raise InvalidNationalId(scheme, _DATE)
    return NationalId(number, birth, False)


def _parse_generic(raw: str, as_of: date) -> NationalId:
    del as_of  # no dates in a generic id
    value = raw.strip()
    if not value:
        raise InvalidNationalId("generic", _FORMAT)
    return NationalId(value, None, False)


_PARSERS: Final[dict[str, Callable[[str, date], NationalId]]] = {
    "se-personnummer": _parse_se,
    "no-fodselsnummer": _parse_no,
    "dk-cpr": _parse_dk,
    "fi-hetu": _parse_fi,
    "generic": _parse_generic,
}


# --- columns --------------------------------------------------------------------------------

_TMP: Final = "__national_id_"


def with_national_ids(
    frame: pl.LazyFrame, column: str, scheme: str, as_of: date, name: str
) -> pl.LazyFrame:
    """Add `name`: column `column` (String) parsed into :data:`NATIONAL_ID_DTYPE` structs.

    A null input gives a struct of nulls. se-personnummer: vectorised for the usual ASCII forms,
    :func:`parse_national_id` over the unique remaining values. generic: an expression. Other
    schemes: stdnum over the unique values. The plan is built in stages (``with_columns``)
    because one nested expression re-evaluated its shared parts and ran 100 times slower.
    """
    _check_scheme(scheme)
    raw = pl.col(column)
    if scheme == "generic":
        canonical = raw.str.strip_chars()
        valid = canonical.str.len_bytes() > 0
        return frame.with_columns(
            pl.struct(
                canonical=pl.when(valid).then(canonical),
                birth_date=pl.lit(None, pl.Date),
                coordination=pl.when(valid).then(pl.lit(False)),
                reason=pl.when(raw.is_not_null() & ~valid).then(pl.lit(_FORMAT)),
            ).alias(name)
        )
    if scheme != "se-personnummer":
        return frame.with_columns(_parse_unique(raw, scheme, as_of).alias(name))
    tmp = _se_vectorised(frame, raw, as_of)
    fast_applies = pl.col(f"{_TMP}six").is_not_null()
    slow = _parse_unique(pl.when(~fast_applies).then(raw), scheme, as_of)
    return tmp.with_columns(
        pl.when(fast_applies).then(pl.col(f"{_TMP}result")).otherwise(slow).alias(name)
    ).drop(pl.selectors.starts_with(_TMP))


# Whitespace that both Python's str.split() and this class remove, plus stdnum's ':'.
_SE_FAST = r"^([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})$"
_ASCII_SPACE_OR_COLON = r"[ \t\n\r\x0b\x0c:]"


def _se_vectorised(frame: pl.LazyFrame, raw: pl.Expr, as_of: date) -> pl.LazyFrame:
    """Temporary columns; `six` is null where the value is not one of the fast forms."""

    def c(name: str) -> pl.Expr:
        return pl.col(_TMP + name)

    groups = raw.str.replace_all(_ASCII_SPACE_OR_COLON, "").str.extract_groups(_SE_FAST)
    frame = frame.with_columns(groups.alias(_TMP + "groups")).with_columns(
        c("groups").struct.field("1").alias(_TMP + "century"),
        c("groups").struct.field("2").alias(_TMP + "six"),
        (c("groups").struct.field("3") == "+").alias(_TMP + "plus"),
        c("groups").struct.field("4").alias(_TMP + "serial"),
    )
    frame = frame.with_columns(
        (c("six") + c("serial")).cast(pl.Int64, strict=False).alias(_TMP + "ten")
    )
    ten = c("ten")
    frame = frame.with_columns(
        (ten // 10**8).cast(pl.Int32).alias(_TMP + "yy"),
        (ten // 10**6 % 100).cast(pl.Int32).alias(_TMP + "month"),
        (ten // 10**4 % 100).cast(pl.Int32).alias(_TMP + "day_field"),
        # Luhn over the 10 digits: double every other digit from the left, from the first.
        (
            pl.sum_horizontal(
                [_luhn_term(ten // 10 ** (9 - i) % 10, doubled=i % 2 == 0) for i in range(10)]
            )
            % 10
            == 0
        ).alias(_TMP + "check_ok"),
    )
    frame = frame.with_columns((c("day_field") > _COORDINATION_OFFSET).alias(_TMP + "coord"))
    frame = frame.with_columns(
        pl.when(c("coord"))
        .then(c("day_field") - _COORDINATION_OFFSET)
        .otherwise(c("day_field"))
        .alias(_TMP + "day")
    )
    as_of_yy = as_of.year % 100
    not_after = (c("yy") * 10_000 + c("month") * 100 + c("day")) <= (
        as_of_yy * 10_000 + as_of.month * 100 + as_of.day
    )
    short_year = (
        as_of.year
        - as_of_yy
        + c("yy")
        - pl.when(not_after).then(0).otherwise(100)
        - pl.when(c("plus")).then(100).otherwise(0)
    )
    frame = frame.with_columns(
        pl.when(c("century").is_not_null())
        .then(c("century").cast(pl.Int32, strict=False) * 100 + c("yy"))
        .otherwise(short_year)
        .alias(_TMP + "year")
    )
    # strptime of the assembled digits is the calendar check (29 February, 31 April ...).
    frame = frame.with_columns(
        pl.concat_str(
            c("year").cast(pl.String).str.zfill(4),
            c("month").cast(pl.String).str.zfill(2),
            c("day").cast(pl.String).str.zfill(2),
        )
        .str.strptime(pl.Date, "%Y%m%d", strict=False)
        .alias(_TMP + "birth")
    )
    frame = frame.with_columns(
        (c("birth").is_not_null() & (c("birth") <= pl.lit(as_of)) & (c("year") >= _MIN_YEAR)).alias(
            _TMP + "date_ok"
        )
    )
    valid = c("date_ok") & c("check_ok")
    return frame.with_columns(
        pl.struct(
            canonical=pl.when(valid).then(
                pl.concat_str(
                    c("year").cast(pl.String).str.zfill(4), c("six").str.slice(2), c("serial")
                )
            ),
            birth_date=pl.when(valid).then(c("birth")),
            coordination=pl.when(valid).then(c("coord")),
            reason=pl.when(~c("date_ok"))
            .then(pl.lit(_DATE))
            .when(~c("check_ok"))
            .then(pl.lit(_CHECK)),
        ).alias(_TMP + "result")
    )


def _luhn_term(digit: pl.Expr, *, doubled: bool) -> pl.Expr:
    if not doubled:
        return digit
    return pl.when(digit >= 5).then(digit * 2 - 9).otherwise(digit * 2)


def _parse_unique(raw: pl.Expr, scheme: str, as_of: date) -> pl.Expr:
    """:func:`parse_national_id` once per distinct non-null value, joined back to the rows."""

    def parse_series(values: pl.Series) -> pl.Series:
        unique = values.drop_nulls().unique()
        rows: list[tuple[str | None, date | None, bool | None, str | None]] = []
        for value in unique.to_list():
            try:
                parsed = parse_national_id(value, scheme, as_of)
            except InvalidNationalId as error:
                rows.append((None, None, None, error.reason))
            else:
                rows.append((parsed.canonical, parsed.birth_date, parsed.coordination, None))
        table = pl.DataFrame(
            rows, schema=dict(NATIONAL_ID_DTYPE.to_schema()), orient="row"
        ).with_columns(key=unique)
        joined = (
            values.rename("key")
            .to_frame()
            .join(table, on="key", how="left", maintain_order="left")
            .select(pl.struct(*NATIONAL_ID_DTYPE.to_schema().keys()).alias(values.name))
        )
        return joined.to_series()

    return raw.map_batches(parse_series, return_dtype=NATIONAL_ID_DTYPE, is_elementwise=True)
