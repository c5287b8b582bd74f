"""Mapping suggestions for ``connector init --sample``: which export column is which field.

Each header column is scored (rapidfuzz) against Swedish and English names of every canonical
field, after folding case, diacritics and punctuation ("Fr.o.m." and "From" are both "from").
A field goes to at most one column, and only when the choice is clear: two columns that score
alike for one field are left for the data officer, with a line saying so in ``checks``. Columns
that look like special-category data are never mapped. Date formats are sniffed from the sample
values, so the written profile can be used as it is when the header is unambiguous.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

import polars as pl
from rapidfuzz import fuzz

from connectors.extract import RAW_ROW_COLUMN, RawExtract
from connectors.profile import forbidden_word
from connectors.record import DATE_FIELDS, REQUIRED_FIELDS

__all__ = [
    "DATE_FORMAT_CANDIDATES",
    "SYNONYMS",
    "ColumnSuggestion",
    "MappingSuggestion",
    "field_for_name",
    "header_row_in",
    "suggest_mapping",
]

# Column names seen in Swedish property-management exports, and their English counterparts.
SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "record_id": ("Löpnr", "Id", "Rad-ID", "Post-ID", "Record ID", "Radnr", "Row ID"),
        "national_id": (
            "Personnummer",
            "Pnr",
            "Personnr",
            "Person-nr",
            "Personnummer/Samordningsnummer",
            "Samordningsnummer",
            "National ID",
            "SSN",
            "Personal identity number",
        ),
        "first_name": ("Förnamn", "Tilltalsnamn", "First name", "Given name"),
        "last_name": ("Efternamn", "Last name", "Surname", "Family name"),
        "full_name": ("Namn", "Hyresgäst", "Name", "Full name", "Hyresgästnamn"),
        "birth_date": ("Födelsedatum", "Födelsedag", "Birth date", "Date of birth"),
        "street_address": ("Gatuadress", "Adress", "Utdelningsadress", "Street address", "Address"),
        "postal_code": ("Postnr", "Postnummer", "Postal code", "Zip", "Zip code", "Postcode"),
        "city": ("Ort", "Postort", "City", "Town"),
        "apartment_number": (
            "Lgh nr",
            "Lägenhetsnummer",
            "Lgh",
            "Lägenhetsnr",
            "Apartment no",
            "Apartment number",
        ),
        "contract_id": (
            "Kontraktsnr",
            "Kontraktsnummer",
            "Avtalsnr",
            "Avtalsnummer",
            "Contract no",
            "Contract number",
            "Contract ID",
        ),
        "contract_start": (
            "Fr.o.m.",
            "From",
            "Inflyttning",
            "Inflyttningsdatum",
            "Startdatum",
            "Kontraktsstart",
            "Start date",
            "Contract start",
        ),
        "contract_end": (
            "T.o.m.",
            "Tom",
            "Avflyttning",
            "Avflyttningsdatum",
            "Slutdatum",
            "Kontraktsslut",
            "End date",
            "Contract end",
        ),
        "contract_type": ("Objekttyp", "Kontraktstyp", "Typ", "Contract type", "Object type"),
        "tenant_role": ("Roll", "Hyresgästtyp", "Tenant role", "Role"),
        "sublet_approved": (
            "Andrahandsuthyrning godkänd",
            "Andrahand",
            "Andrahandsuthyrning",
            "Sublet approved",
            "Sublet",
        ),
        "phone": ("Telefon", "Tel", "Mobil", "Telefonnummer", "Mobilnummer", "Phone", "Mobile"),
        "email": ("E-post", "Epost", "Mail", "E-mail", "Email", "E-postadress"),
        "protected_identity": (
            "Skyddad identitet",
            "Skyddad",
            "Sekretessmarkering",
            "Skyddade personuppgifter",
            "Protected identity",
        ),
    }
)

DATE_FORMAT_CANDIDATES: Final = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%y%m%d",
)

# Scores are rapidfuzz 0..100. Below _MAPPED a column is not suggested at all; below _SURE it is
# suggested with a check line; two candidates within _CLOSE of each other are not decided here.
_MAPPED: Final = 80.0
_SURE: Final = 90.0
_CLOSE: Final = 5.0


@dataclass(frozen=True)
class ColumnSuggestion:
    column: str
    field: str | None
    confidence: float  # 0..1; 0 when no field is suggested


@dataclass(frozen=True)
class MappingSuggestion:
    columns: tuple[ColumnSuggestion, ...]  # one per header column, in header order
    mapping: Mapping[str, str]  # field -> column (best, unambiguous only)
    date_formats: Mapping[str, tuple[str, ...]]  # sniffed from sample values per date field
    unmapped: tuple[str, ...]  # header columns with no field
    missing_required: tuple[str, ...]
    checks: tuple[str, ...]  # what the data officer should check before the first real run


def _compact(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]+", "", folded)


def _spaced(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.split(r"[^0-9a-z]+", folded)).strip()


_COMPACT_SYNONYMS: Final = {
    name: tuple((_compact(s), _spaced(s)) for s in synonyms) for name, synonyms in SYNONYMS.items()
}


def _scores(column: str) -> dict[str, float]:
    """Best score of `column` against each field's synonyms."""
    compact, spaced = _compact(column), _spaced(column)
    result: dict[str, float] = {}
    if not compact:
        return result
    for name, synonyms in _COMPACT_SYNONYMS.items():
        best = 0.0
        for syn_compact, syn_spaced in synonyms:
            # Compact form: "Lgh nr" = "Lghnr", "E-post" = "Epost". Token order form: "Nr lgh".
            score = max(fuzz.ratio(compact, syn_compact), fuzz.token_sort_ratio(spaced, syn_spaced))
            best = max(best, score)
        result[name] = best
    return result


def field_for_name(name: str) -> str | None:
    """The canonical field a column (or mistyped field) name most likely means, if any."""
    if forbidden_word(name) is not None:
        return None
    scores = _scores(name)
    if not scores:
        return None
    best = max(scores, key=lambda f: scores[f])
    return best if scores[best] >= _MAPPED else None


def header_row_in(sample: RawExtract) -> int | None:
    """The 1-based row of the sample's preview that looks most like a header, when it is not
    the row the sample was read with: title rows above the header are common in XLSX exports.

    A row qualifies when at least three of its cells name canonical fields.
    """
    best, best_count = None, 2
    for number, row in enumerate(sample.preview, start=1):
        count = sum(field_for_name(cell) is not None for cell in row if cell and cell.strip())
        if count > best_count:
            best, best_count = number, count
    return best if best is not None and best != sample.detected.header_row else None


def suggest_mapping(sample: RawExtract) -> MappingSuggestion:
    """Suggest a mapping from the header (and sample values) of an export."""
    header = [c for c in sample.frame.columns if c != RAW_ROW_COLUMN]
    checks: list[str] = []
    scores: dict[str, dict[str, float]] = {}
    for column in header:
        word = forbidden_word(column)
        if word is not None:
            checks.append(
                f'column "{column}" looks like special-category data ({word}); it is never '
                "mapped and stays in the company"
            )
            continue
        scores[column] = _scores(column)

    undecided: set[str] = set()
    # A field that two columns fit about equally well is the data officer's call.
    for name in SYNONYMS:
        ranked = sorted(
            ((s[name], c) for c, s in scores.items() if s.get(name, 0.0) >= _MAPPED), reverse=True
        )
        if len(ranked) >= 2 and ranked[0][0] - ranked[1][0] < _CLOSE:
            undecided.add(name)
            close = sorted((c for s, c in ranked if ranked[0][0] - s < _CLOSE), key=header.index)
            rivals = " and ".join(f'"{c}"' for c in close)
            checks.append(f"{rivals} both look like {name}; map the right one by hand")
    # A column that fits two fields about equally well is too.
    unsure_columns: set[str] = set()
    for column, column_scores in scores.items():
        ranked_fields = sorted(
            ((s, f) for f, s in column_scores.items() if s >= _MAPPED), reverse=True
        )
        if len(ranked_fields) >= 2 and ranked_fields[0][0] - ranked_fields[1][0] < _CLOSE:
            unsure_columns.add(column)
            options = " or ".join(f for _, f in ranked_fields[:3])
            checks.append(f'column "{column}" could be {options}; map it by hand')

    pairs = sorted(
        (
            (score, column, name)
            for column, column_scores in scores.items()
            for name, score in column_scores.items()
            if score >= _MAPPED and name not in undecided and column not in unsure_columns
        ),
        key=lambda p: (-p[0], header.index(p[1])),
    )
    mapping: dict[str, str] = {}
    chosen: dict[str, tuple[str, float]] = {}
    for score, column, name in pairs:
        if name in mapping or column in chosen:
            continue
        mapping[name] = column
        chosen[column] = (name, score)
        if score < _SURE:
            checks.append(f'check that column "{column}" really is {name} ({score:.0f}% sure)')

    columns = tuple(
        ColumnSuggestion(c, chosen[c][0], round(chosen[c][1] / 100, 2))
        if c in chosen
        else ColumnSuggestion(c, None, 0.0)
        for c in header
    )
    date_formats: dict[str, tuple[str, ...]] = {}
    for name in DATE_FIELDS:
        if name in mapping:
            formats, problem = _sniff_date_formats(sample.frame, mapping[name])
            if formats:
                date_formats[name] = formats
            if problem:
                checks.append(problem)
    missing = tuple(name for name in REQUIRED_FIELDS if name not in mapping)
    for name in missing:
        checks.append(f"no column was recognised as {name} (required); add it under [mapping]")
    return MappingSuggestion(
        columns=columns,
        mapping=MappingProxyType(mapping),
        date_formats=MappingProxyType(date_formats),
        unmapped=tuple(c.column for c in columns if c.field is None),
        missing_required=missing,
        checks=tuple(checks),
    )


def _parses(value: str, fmt: str) -> bool:
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return False
    # Python's strptime is lenient about digit counts: without separators "991231" would read
    # as %Y%m%d (9912-03-01). Formats made of directives only must write the value back exactly.
    return bool(re.sub(r"%.", "", fmt)) or parsed.strftime(fmt) == value


def _sniff_date_formats(frame: pl.DataFrame, column: str) -> tuple[tuple[str, ...], str | None]:
    """The candidate formats that together read every non-empty sample value of `column`."""
    values = (
        frame.select(pl.col(column).str.strip_chars().alias("v"), pl.col(RAW_ROW_COLUMN))
        .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
        .unique("v", keep="first", maintain_order=True)
    )
    if values.height == 0:
        return (), None
    remaining = dict(zip(values.get_column("v"), values.get_column(RAW_ROW_COLUMN), strict=True))
    for fmt in DATE_FORMAT_CANDIDATES:
        if all(_parses(v, fmt) for v in remaining):
            return (fmt,), None
    # No single format reads them all: the profile allows several, tried in order.
    chosen: list[str] = []
    for fmt in DATE_FORMAT_CANDIDATES:
        read = [v for v in remaining if _parses(v, fmt)]
        if read:
            chosen.append(fmt)
            for value in read:
                del remaining[value]
        if not remaining:
            return tuple(chosen), None
    first_row = min(remaining.values())
    return (), (
        f'column "{column}" has dates in a form none of {", ".join(DATE_FORMAT_CANDIDATES)} '
        f"reads (first on row {first_row}); set the format under [formats]"
    )
