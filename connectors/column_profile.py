"""What the values of one sample column look like, for ``connector init --sample``.

A header says what a column is meant to be; the values say what it is. For every column of
the sample this counts the share of non-empty values that are valid personnummer or
samordningsnummer (by check digit), dates in each candidate format, Swedish postcodes, phone
numbers, e-mail addresses and protection-flag words, and whether the column is filled and
unique on every row (a row identifier). The sample is at most a few hundred rows, so the
per-value Python here never runs on a whole export.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Final

import polars as pl

from connectors.extract import RAW_ROW_COLUMN
from connectors.identity import InvalidNationalId, parse_national_id
from connectors.normalise import PROTECTED_FALSE_WORDS, PROTECTED_TRUE_WORDS

__all__ = [
    "FLAG_DISTINCT_AT_MOST",
    "ColumnProfile",
    "flag_like_columns",
    "flag_word",
    "looks_like_flag_values",
    "parses_as_date",
    "profile_columns",
]

# A yes/no flag has two values, perhaps three spellings ("J", "j", "Ja"); more is something else.
FLAG_DISTINCT_AT_MOST: Final = 4

# Only the check digit matters here, not the century: a date far ahead reads every id.
_VALIDITY_AS_OF: Final = date(2999, 12, 31)
_POSTCODE: Final = re.compile(r"^(se-?)?[1-9]\d{2} ?\d{2}$", re.IGNORECASE)
_PHONE: Final = re.compile(r"^(\+|00)?[\d\s()./-]{7,20}$")
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _fold_flag(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", folded).split())


_FLAG_WORDS: Final = {
    **{_fold_flag(w): True for w in PROTECTED_TRUE_WORDS},
    **{_fold_flag(w): False for w in PROTECTED_FALSE_WORDS},
}


def flag_word(value: str) -> bool | None:
    """True/False for a protection-flag word (any spelling the normaliser reads), else None."""
    return _FLAG_WORDS.get(_fold_flag(value))


def looks_like_flag_values(distinct: Iterable[str]) -> bool:
    """Are these (distinct, non-empty) values all protection-flag words, and few of them?"""
    values = {_fold_flag(v) for v in distinct if v and v.strip()}
    return 0 < len(values) <= FLAG_DISTINCT_AT_MOST and all(
        _FLAG_WORDS.get(v) is not None for v in values
    )


def flag_like_columns(frame: pl.DataFrame, columns: Iterable[str]) -> list[str]:
    """Those of `columns` whose values look like a protection flag, over the whole frame (a
    polars unique per column, so it runs on a full export too)."""
    # More distinct spellings than this can not fold to FLAG_DISTINCT_AT_MOST flag words.
    limit = FLAG_DISTINCT_AT_MOST * 6
    found = []
    for column in columns:
        values = (
            frame.lazy()
            .select(pl.col(column).str.strip_chars())
            .filter(pl.col(column).is_not_null() & (pl.col(column) != ""))
            .unique()
            .head(limit + 1)
            .collect()
            .get_column(column)
            .to_list()
        )
        if len(values) <= limit and looks_like_flag_values(values):
            found.append(column)
    return found


def parses_as_date(value: str, fmt: str) -> bool:
    """Does `fmt` read `value` exactly (and, for formats without separators, write it back)?"""
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return False
    # Python's strptime is lenient about digit counts: without separators "991231" would read
    # as %Y%m%d (9912-03-01). Formats made of directives only must write the value back exactly.
    return bool(re.sub(r"%.", "", fmt)) or parsed.strftime(fmt) == value


@dataclass(frozen=True)
class ColumnProfile:
    """Shares are of the column's non-empty values (0 when it has none)."""

    column: str
    filled: int  # non-empty values
    rows: int  # sample rows
    distinct: int
    national_id: float  # valid personnummer/samordningsnummer by check digit
    postcode: float
    phone: float
    email: float
    flag: float  # protection-flag words (ja/nej, x, skyddad, ...)
    dates: Mapping[str, float]  # candidate format -> share read
    # file row of each distinct non-empty value (first seen), for date problems
    value_rows: Mapping[str, int]

    @property
    def unique_and_full(self) -> bool:
        """A value on every row and no value twice: usable as a row identifier."""
        return self.rows > 0 and self.filled == self.rows == self.distinct

    @property
    def flag_like(self) -> bool:
        """Only a few yes/no-like values (J/N, 1/0, X, Skyddad, ...): it could be a flag."""
        return looks_like_flag_values(self.value_rows)

    @property
    def best_date_share(self) -> float:
        return max(self.dates.values(), default=0.0)


def _share(values: Sequence[str], test: object) -> float:
    if not values:
        return 0.0
    assert callable(test)
    return sum(1 for v in values if test(v)) / len(values)


def _valid_id(value: str) -> bool:
    if not any(c.isdigit() for c in value):
        return False
    try:
        parse_national_id(value, "se-personnummer", _VALIDITY_AS_OF)
    except (InvalidNationalId, ValueError):
        return False
    return True


def _phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return bool(_PHONE.match(value)) and 8 <= digits <= 15 and value.lstrip("(")[:1] in "+0"


def profile_columns(frame: pl.DataFrame, date_formats: Sequence[str]) -> dict[str, ColumnProfile]:
    """A :class:`ColumnProfile` for every column of a sample frame (all String)."""
    profiles: dict[str, ColumnProfile] = {}
    rows = frame.height
    row_numbers = frame.get_column(RAW_ROW_COLUMN).to_list()
    for column in frame.columns:
        if column == RAW_ROW_COLUMN:
            continue
        raw = frame.get_column(column).to_list()
        cells = [(v.strip(), r) for v, r in zip(raw, row_numbers, strict=True) if v and v.strip()]
        values = [v for v, _ in cells]
        value_rows: dict[str, int] = {}
        for value, row in cells:
            value_rows.setdefault(value, row)
        distinct = list(value_rows)
        dates = {
            fmt: _share(distinct, lambda v, f=fmt: parses_as_date(v, f)) for fmt in date_formats
        }
        profiles[column] = ColumnProfile(
            column=column,
            filled=len(values),
            rows=rows,
            distinct=len(distinct),
            national_id=_share(distinct, _valid_id),
            postcode=_share(values, lambda v: bool(_POSTCODE.match(v))),
            phone=_share(values, _phone),
            email=_share(values, lambda v: bool(_EMAIL.match(v))),
            flag=_share(values, lambda v: flag_word(v) is not None),
            dates=MappingProxyType(dates),
            value_rows=MappingProxyType(value_rows),
        )
    return profiles
