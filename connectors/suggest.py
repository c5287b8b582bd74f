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
from types import MappingProxyType
from typing import Final

from rapidfuzz import fuzz

from connectors.column_profile import ColumnProfile, flag_word, parses_as_date, profile_columns
from connectors.extract import RAW_ROW_COLUMN, RawExtract
from connectors.profile import forbidden_word
from connectors.protection import looks_like_protection_flag
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
        "record_id": (
            "Löpnr",
            "Löpnummer",
            "Id",
            "Rad-ID",
            "Post-ID",
            "Record ID",
            "Rec ID",
            "Radnr",
            "Radnummer",
            "Row ID",
            "Row",
            "Hyresgäst-ID",
            "Hyresgästnr",
            "Kund-ID",
            "Kundnr",
            "Tenant ID",
            "Key",
        ),
        "national_id": (
            "Personnummer",
            "Pnr",
            "Personnr",
            "Person-nr",
            "Pers nr",
            "Persnr",
            "Personnummer/Samordningsnummer",
            "Samordningsnummer",
            "Samnr",
            "Pnr/Snr",
            "National ID",
            "National identity number",
            "SSN",
            "Soc sec id",
            "Social security number",
            "Personal identity number",
            "Personal number",
            "Personal ID",
            "Person ID",
            "Id-nummer",
        ),
        "first_name": (
            "Förnamn",
            "Förn",
            "Fnamn",
            "Tilltalsnamn",
            "First name",
            "First",
            "Given name",
            "Given",
            "Forename",
        ),
        "last_name": (
            "Efternamn",
            "Eftern",
            "Enamn",
            "Last name",
            "Last",
            "Surname",
            "Family name",
        ),
        "full_name": (
            "Namn",
            "Hyresgäst",
            "Name",
            "Full name",
            "Hyresgästnamn",
            "Tenant",
            "Tenant name",
        ),
        "birth_date": (
            "Födelsedatum",
            "Födelsedag",
            "Född",
            "Födddatum",
            "Birth date",
            "Birthdate",
            "Date of birth",
            "DOB",
            "Born",
        ),
        "street_address": (
            "Gatuadress",
            "Adress",
            "Gata",
            "Utdelningsadress",
            "Street address",
            "Street",
            "Address",
            "Address line",
            "Adr",
        ),
        "postal_code": (
            "Postnr",
            "Post nr",
            "Postnummer",
            "Postal code",
            "Post code",
            "Zip",
            "Zip code",
            "Postcode",
        ),
        "city": ("Ort", "Postort", "Stad", "City", "Town", "Suburb", "Postal town", "Locality"),
        "apartment_number": (
            "Lgh nr",
            "Lägenhetsnummer",
            "Lgh",
            "Lägenhet",
            "Lägenhetsnr",
            "Apartment no",
            "Apartment number",
            "Apartment",
            "Apt",
            "Apt no",
            "Flat",
            "Flat no",
        ),
        "contract_id": (
            "Kontraktsnr",
            "Kontraktsnummer",
            "Kontrakt",
            "Avtalsnr",
            "Avtalsnummer",
            "Avtal",
            "Contract no",
            "Contract number",
            "Contract ID",
            "Contract",
            "Lease no",
            "Lease ID",
            "Lease",
        ),
        "contract_start": (
            "Fr.o.m.",
            "From",
            "Från",
            "Inflyttning",
            "Inflyttningsdatum",
            "Inflytt",
            "Startdatum",
            "Start",
            "Kontraktsstart",
            "Start date",
            "Contract start",
            "Lease start",
            "Move-in",
            "Moved in",
        ),
        "contract_end": (
            "T.o.m.",
            "Tom",
            "Till",
            "Avflyttning",
            "Avflyttningsdatum",
            "Utflytt",
            "Slutdatum",
            "Kontraktsslut",
            "End date",
            "End",
            "Contract end",
            "Lease end",
            "Move-out",
            "Moved out",
        ),
        "contract_type": (
            "Objekttyp",
            "Objektstyp",
            "Kontraktstyp",
            "Typ",
            "Type",
            "Contract type",
            "Object type",
            "Category",
            "Kategori",
        ),
        "tenant_role": ("Roll", "Hyresgästtyp", "Hyresgästroll", "Tenant role", "Role"),
        "sublet_approved": (
            "Andrahandsuthyrning godkänd",
            "Andrahand",
            "Andrahandsuthyrning",
            "Sublet approved",
            "Sublet",
            "Subletting",
        ),
        "phone": (
            "Telefon",
            "Tel",
            "Tfn",
            "Mobil",
            "Telefonnummer",
            "Mobilnummer",
            "Mobiltelefon",
            "Phone",
            "Phone number",
            "Telephone",
            "Mobile",
            "Cell",
        ),
        "email": ("E-post", "Epost", "Mejl", "Mail", "E-mail", "Email", "E-postadress"),
        "protected_identity": (
            "Skyddad identitet",
            "Skyddad",
            "Skyddad folkbokföring",
            "Sekretessmarkering",
            "Sekretess",
            "Spärr",
            "Skyddade personuppgifter",
            "Protected identity",
            "Protected",
            "Confidential",
        ),
    }
)

DATE_FORMAT_CANDIDATES: Final = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y-%m-%d %H:%M:%S",
    "%y%m%d",
    "%y-%m-%d",
    "%m/%d/%Y",
)

# Scores are rapidfuzz 0..100. Below _MAPPED a column is not suggested at all; below _SURE it is
# suggested with a check line; two candidates within _CLOSE of each other are not decided here.
_MAPPED: Final = 80.0
_SURE: Final = 90.0
_CLOSE: Final = 5.0
# A share of the values this high says what a column is, whatever its header says.
_BY_VALUES: Final = 0.8
# Confidence of a protection flag known only by its values (a check line asks to confirm it).
_FLAG_BY_VALUES: Final = 85.0
# Uniqueness on fewer sample rows than this proves nothing about a row identifier.
_UNIQUE_FROM_ROWS: Final = 10


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
    national_id_scheme: str = "se-personnummer"  # generic when the ids are no personnummer


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


def _combined_scores(
    header: list[str], profiles: Mapping[str, ColumnProfile], checks: list[str]
) -> dict[str, dict[str, float]]:
    """Header similarity, corrected by what the values are."""
    scores: dict[str, dict[str, float]] = {}
    for column in header:
        word = forbidden_word(column)
        if word is not None:
            checks.append(
                f'column "{column}" looks like special-category data ({word}); it is never '
                "mapped and stays in the company"
            )
            continue
        by_header = _scores(column)
        values = profiles[column]
        if looks_like_protection_flag(column):
            # The flag is the one column that must never stay local: the header decides.
            scores[column] = {"protected_identity": 100.0}
            continue
        if values.filled == 0:
            scores[column] = by_header
            continue
        adjusted = dict(by_header)
        if values.national_id >= _BY_VALUES:
            adjusted = {"national_id": max(by_header.get("national_id", 0.0), 97.0)}
        elif values.email >= _BY_VALUES:
            adjusted = {"email": max(by_header.get("email", 0.0), 95.0)}
        elif values.best_date_share >= _BY_VALUES:
            # A date column is one of the date fields, whatever else its header resembles.
            adjusted = {name: by_header.get(name, 0.0) for name in DATE_FIELDS}
        else:
            if values.phone >= _BY_VALUES:
                adjusted["phone"] = max(adjusted.get("phone", 0.0), 88.0)
            best_other = max((v for k, v in adjusted.items() if k != "postal_code"), default=0.0)
            if values.postcode >= 0.9 and best_other < _MAPPED:
                adjusted["postal_code"] = max(adjusted.get("postal_code", 0.0), 85.0)
            if values.flag >= _BY_VALUES and by_header.get("protected_identity", 0.0) >= 60:
                adjusted["protected_identity"] = max(adjusted["protected_identity"], 95.0)
            elif values.flag_like and max(by_header.values(), default=0.0) < _MAPPED:
                # Yes/no values under a header that names nothing ("F7", "kod2"): the flag,
                # exported without its name. Below _SURE, so the data officer is asked.
                adjusted["protected_identity"] = _FLAG_BY_VALUES
        scores[column] = adjusted
    return scores


def suggest_mapping(sample: RawExtract) -> MappingSuggestion:
    """Suggest a mapping from the header and the sample values of an export."""
    header = [c for c in sample.frame.columns if c != RAW_ROW_COLUMN]
    checks: list[str] = []
    profiles = profile_columns(sample.frame, DATE_FORMAT_CANDIDATES)
    scores = _combined_scores(header, profiles, checks)

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

    if "record_id" not in mapping and "record_id" not in undecided:
        _record_id_from_values(header, profiles, scores, mapping, chosen, checks)

    columns = tuple(
        ColumnSuggestion(c, chosen[c][0], round(chosen[c][1] / 100, 2))
        if c in chosen
        else ColumnSuggestion(c, None, 0.0)
        for c in header
    )
    flagged = mapping.get("protected_identity")
    for column in header:
        if column != flagged and looks_like_protection_flag(column):
            checks.append(
                f'column "{column}" looks like a protection flag (skyddad identitet) but is not '
                "mapped: check and pseudonymise refuse to run until it is mapped as "
                "protected_identity"
            )
        elif column not in chosen and column in profiles and profiles[column].flag_like:
            checks.append(
                f'column "{column}" has only yes/no-like values, as a protection flag has, and '
                + (
                    "is not mapped: check refuses to run until it is mapped as "
                    "protected_identity, or declared not a flag under [protection] not_flags"
                    if flagged is None
                    else "is not mapped; it stays local (the flag is column "
                    f'"{flagged}"); map it if it is a field'
                )
            )
    if flagged is not None:
        unread = [v for v in profiles[flagged].value_rows if flag_word(v) is None]
        if unread:
            rows = ", ".join(str(profiles[flagged].value_rows[v]) for v in unread[:5])
            checks.append(
                f'column "{flagged}" (protected_identity) has values that are not a flag '
                f"(rows {rows}): those rows are excluded until the value reads as ja/nej"
            )
    scheme = "se-personnummer"
    if "national_id" in mapping:
        share = profiles[mapping["national_id"]].national_id
        if profiles[mapping["national_id"]].filled == 0:
            pass  # a header without rows says nothing about the ids
        elif share < 0.5:
            scheme = "generic"
            checks.append(
                f'column "{mapping["national_id"]}" is national_id, but only {share:.0%} of its '
                'sample values are valid personnummer: national_id_scheme = "generic" was set; '
                "change it if the ids are of another country"
            )
        elif share < 1.0:
            checks.append(
                f'{share:.0%} of column "{mapping["national_id"]}" are valid personnummer or '
                "samordningsnummer; check reports the others by row"
            )
    date_formats: dict[str, tuple[str, ...]] = {}
    for name in DATE_FIELDS:
        if name in mapping:
            formats, problem = _sniff_date_formats(profiles[mapping[name]])
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
        national_id_scheme=scheme,
    )


def _record_id_from_values(
    header: list[str],
    profiles: Mapping[str, ColumnProfile],
    scores: Mapping[str, Mapping[str, float]],
    mapping: dict[str, str],
    chosen: dict[str, tuple[str, float]],
    checks: list[str],
) -> None:
    """No row-id column: a column unique on every sample row becomes record_id (it stays local).

    The contract number is preferred; an id, name or contact column never is.
    """
    personal = {mapping.get(f) for f in ("national_id", "phone", "email", "full_name")}
    candidates = [
        c
        for c in header
        if c in scores
        and c not in personal
        and profiles[c].rows >= _UNIQUE_FROM_ROWS
        and profiles[c].unique_and_full
        and profiles[c].best_date_share < 0.5
    ]
    if not candidates:
        return
    contract = mapping.get("contract_id")
    column = contract if contract in candidates else None
    if column is None:
        unmapped = [c for c in candidates if c not in chosen]
        if not unmapped:
            return
        column = unmapped[0]
    mapping["record_id"] = column
    if column not in chosen:
        chosen[column] = ("record_id", 80.0)
    what = "the contract number" if column == contract else "the only column"
    checks.append(
        f'no row-id column: record_id is column "{column}", {what} with a different value on '
        "every sample row (a contract number is fine: record_id never leaves the company, it "
        "must only be unique in each extract and stay the same between extracts)"
    )


def _sniff_date_formats(values: ColumnProfile) -> tuple[tuple[str, ...], str | None]:
    """The candidate formats that read the most sample values of a column, best first.

    Formats are added while each reads at least two values the ones before it do not (mixed
    forms); values none of them read are listed by row. A format that reads none is never
    suggested.
    """
    remaining = dict(values.value_rows)
    if not remaining:
        return (), None
    chosen: list[str] = []
    while remaining:
        reads = {
            fmt: [v for v in remaining if parses_as_date(v, fmt)]
            for fmt in DATE_FORMAT_CANDIDATES
            if fmt not in chosen
        }
        best = max(reads, key=lambda f: len(reads[f]), default=None)
        if best is None or not reads[best]:
            break
        if chosen and len(reads[best]) < min(2, len(remaining)):
            break
        chosen.append(best)
        for value in reads[best]:
            del remaining[value]
    column = values.column
    if not chosen:
        first_row = min(remaining.values())
        return (), (
            f'column "{column}" has dates in a form none of {", ".join(DATE_FORMAT_CANDIDATES)} '
            f"reads (first on row {first_row}); set the format under [formats]"
        )
    if not remaining:
        return tuple(chosen), None
    rows = sorted(remaining.values())
    shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
    return tuple(chosen), (
        f'column "{column}": {len(rows)} of {values.distinct} distinct sample values are no date '
        f"in {' or '.join(chosen)} (rows {shown}); check reports every such row"
    )
