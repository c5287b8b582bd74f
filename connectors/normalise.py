"""Normalise and validate a mapped register extract: one polars plan from strings to the
normalised frame that pseudonymisation reads (connectors.record.NORMALISED_COLUMNS).

The plan is pure: it takes and returns a ``LazyFrame`` and collects nothing, except where a
Python library has to see values (stdnum, phonenumbers), and then only the distinct values that
the vectorised fast paths could not handle. Every row stays in the output; `exclusion` names the
first reason a row may not be used and `problems` lists everything found, with the *source*
column name, so the local report can say row, column, what was wrong and what was expected.

Bad data never raises: each problem becomes a row in `problems`. A wrong *profile* (an unknown
scheme, a synonym mapped to an unknown contract type) raises :class:`ProfileError` at once.

Speed: 1M rows must normalise in about 4 s on two cores, so everything is polars expressions,
built in stages with ``with_columns`` (one large nested expression re-evaluated shared parts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

import phonenumbers
import polars as pl
from phonenumbers.phonemetadata import PhoneMetadata

from connectors.errors import ProfileError
from connectors.identity import SCHEMES, expected_form, with_national_ids
from connectors.record import (
    CANONICAL_FIELDS,
    DATE_FIELDS,
    NORMALISED_COLUMNS,
    REQUIRED_FIELDS,
    ROW_COLUMN,
)
from contract import CONTRACT_TYPES, TENANT_ROLES

__all__ = [
    "CONTRACT_TYPE_SYNONYMS",
    "FALSE_WORDS",
    "ISO_DATE_FORMATS",
    "PROBLEM_DTYPE",
    "PROTECTED_FALSE_WORDS",
    "PROTECTED_TRUE_WORDS",
    "TENANT_ROLE_SYNONYMS",
    "TRUE_WORDS",
    "WARNING_REASONS",
    "NormaliseOptions",
    "fold_key",
    "normalise",
]

CONTRACT_TYPE_SYNONYMS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        (
            "residential",
            "bostad",
            "lägenhet",
            "lgh",
            "bostadslägenhet",
            "hyresrätt",
            "apartment",
            "flat",
        ),
        "residential",
    ),
    **dict.fromkeys(
        ("student", "studentbostad", "studentlägenhet", "korridorrum", "korridor"), "student"
    ),
    **dict.fromkeys(
        ("parking", "parkering", "p-plats", "bilplats", "garage", "carport"), "parking"
    ),
    **dict.fromkeys(("storage", "förråd", "forrad", "lager"), "storage"),
    **dict.fromkeys(("commercial", "lokal", "kontor", "butik", "office"), "commercial"),
}

# "andrahandshyresgäst" is deliberately absent: a sublet tenant is not a co-tenant.
TENANT_ROLE_SYNONYMS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("primary", "huvudhyresgäst", "hyresgäst", "kontraktsinnehavare"), "primary"),
    **dict.fromkeys(("co_tenant", "co-tenant", "medhyresgäst"), "co_tenant"),
}

TRUE_WORDS: Final = ("ja", "j", "yes", "y", "true", "1", "x")
FALSE_WORDS: Final = ("nej", "n", "no", "false", "0")
# A protection flag (skyddad identitet) is also written as the protection's own name, and
# "not protected" as its negation. Anything else excludes the row: the flag fails closed.
PROTECTED_TRUE_WORDS: Final = (
    *TRUE_WORDS,
    "skyddad",
    "skyddad identitet",
    "skyddade personuppgifter",
    "skyddad folkbokföring",
    "sekretess",
    "sekretessmarkering",
    "sekretessmarkerad",
    "spärr",
    "spärrad",
    "kvarskriven",
    "fingerade personuppgifter",
    "protected",
    "confidential",
    "t",
)
PROTECTED_FALSE_WORDS: Final = (
    *FALSE_WORDS,
    "ej skyddad",
    "inte skyddad",
    "oskyddad",
    "ingen",
    "ingen sekretess",
    "not protected",
    "unprotected",
    "none",
    "f",
)

# Always tried first, before a profile's own formats: ISO, and the form in which XLSX and
# Parquet temporal cells arrive as strings.
ISO_DATE_FORMATS: Final = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")

# Reasons of problems with severity "warning" (exclusions use record.EXCLUSION_REASONS).
WARNING_REASONS: Final = ("invalid_value", "inconsistent_value", "unparseable_date")

# Date fields whose unreadable value is a warning (value dropped), not an exclusion. The
# contract dates stay exclusions: they decide the overlap, and a guessed period would be a
# guessed hit.
_OPTIONAL_DATES: Final = ("birth_date",)

PROBLEM_DTYPE: Final = pl.Struct(
    {
        "column": pl.String,
        "reason": pl.String,
        "expected": pl.String,
        "value": pl.String,
        "severity": pl.String,  # "excluded" or "warning"
    }
)

_EXCLUDED: Final = "excluded"
_WARNING: Final = "warning"


@dataclass(frozen=True)
class NormaliseOptions:
    """The normalisation part of a mapping profile."""

    national_id_scheme: str = "se-personnummer"
    # canonical date field -> strptime formats, tried in order after ISO_DATE_FORMATS
    date_formats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    phone_region: str = "SE"
    # extra source value -> canonical value (case-insensitive), on top of the built-in synonyms
    contract_type_values: Mapping[str, str] = field(default_factory=dict)
    tenant_role_values: Mapping[str, str] = field(default_factory=dict)
    # canonical field -> source column name, for problem messages
    source_columns: Mapping[str, str] = field(default_factory=dict)
    min_age: int = 18

    def __post_init__(self) -> None:
        if self.national_id_scheme not in SCHEMES:
            raise ProfileError(
                f"unknown national id scheme {self.national_id_scheme!r}; "
                f"expected one of {', '.join(SCHEMES)}"
            )
        for name in self.date_formats:
            if name not in DATE_FIELDS:
                raise ProfileError(
                    f"date formats given for {name!r}, which is not a date field; "
                    f"expected one of {', '.join(DATE_FIELDS)}"
                )
        _check_targets("contract type", self.contract_type_values, CONTRACT_TYPES)
        _check_targets("tenant role", self.tenant_role_values, TENANT_ROLES)
        if self.phone_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ProfileError(
                f"unknown phone region {self.phone_region!r}; expected a two-letter "
                "country code such as SE"
            )
        if not 0 <= self.min_age <= 150:
            raise ProfileError(f"min_age must be between 0 and 150, not {self.min_age}")

    def source(self, name: str) -> str:
        """The source column a canonical field was mapped from (for messages)."""
        return self.source_columns.get(name, name)


def _check_targets(what: str, values: Mapping[str, str], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for source_value, target in values.items():
        if target not in allowed:
            raise ProfileError(
                f"the {what} value {source_value!r} is mapped to {target!r}; "
                f"expected one of {', '.join(allowed)}"
            )


# --- folding -------------------------------------------------------------------------------


def _mojibake_tables() -> tuple[dict[str, str], dict[str, str]]:
    """(twice, once): UTF-8 text read as Windows-1252 or Latin-1, once or twice, -> the text.

    Covers Latin-1 Supplement and Latin Extended-A (å ä ö é ü ø æ ß, Polish, Czech, Baltic ...).
    """

    def misread(text: str, codec: str) -> str:
        out = []
        for byte in text.encode("utf-8"):
            try:
                out.append(bytes([byte]).decode(codec))
            except UnicodeDecodeError:
                # Bytes Windows-1252 leaves undefined come out as C1 controls, as in WHATWG.
                out.append(chr(byte))
        return "".join(out)

    twice: dict[str, str] = {}
    once: dict[str, str] = {}
    for code in range(0xC0, 0x180):
        char = chr(code)
        for codec in ("cp1252", "latin-1"):
            first = misread(char, codec)
            once[first] = char
            twice[misread(first, codec)] = char
    return twice, once


_MOJIBAKE_TWICE, _MOJIBAKE_ONCE = _mojibake_tables()

# Letters that have no Unicode decomposition, so NFKD + dropping marks would keep them.
_UNDECOMPOSABLE: Final = {
    "ß": "ss",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ł": "l",
    "ı": "i",
}


def fold_key(value: pl.Expr) -> pl.Expr:
    """The fuzzy key of a name or place: mojibake repaired, case and diacritics folded,
    punctuation removed (hyphens and slashes become spaces), single spaces; empty -> null.

    "Åsa Öberg", "ASA  ÖBERG", "Asa Oberg" and "Ã…sa Ã–berg" all give "asa oberg".
    """
    folded = (
        value.str.normalize("NFC")
        # Twice-misread first: its sequences contain the once-misread ones.
        .str.replace_many(_MOJIBAKE_TWICE)
        .str.replace_many(_MOJIBAKE_ONCE)
        .str.to_lowercase()
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_many(_UNDECOMPOSABLE)
        .str.replace_all(r"[-‐‑‒–—_/]", " ")
        .str.replace_all(r"[^\p{L}\p{N}\s]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return _empty_to_null(folded)


def _fold_words(words: Iterable[str]) -> list[str | None]:
    """Fold a few words with the same expression as the data, so both sides always agree."""
    series = pl.Series("w", list(words), dtype=pl.String)
    return series.to_frame().select(fold_key(pl.col("w"))).to_series().to_list()


def _folded_lookup(synonyms: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    merged = {**synonyms, **extra}  # the profile's own values win over built-in ones
    keys = _fold_words(merged)
    return {key: target for key, target in zip(keys, merged.values(), strict=True) if key}


def _describe(synonyms: Mapping[str, str], extra: Mapping[str, str]) -> str:
    by_target: dict[str, list[str]] = {}
    for word, target in {**synonyms, **extra}.items():
        if word != target:
            by_target.setdefault(target, []).append(word)
    return "; ".join(f"{target} ({', '.join(words)})" for target, words in by_target.items())


def _empty_to_null(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.len_bytes() > 0).then(value)


def _display(value: pl.Expr) -> pl.Expr:
    """Readable form: NFC, trimmed, single spaces."""
    return _empty_to_null(value.str.normalize("NFC").str.replace_all(r"\s+", " ").str.strip_chars())


# --- the plan ------------------------------------------------------------------------------

_RAW: Final = "__raw_"  # the value as read, for `problems.value`
_T: Final = "__t_"  # trimmed, empty -> null
_TMP: Final = "__n_"


def _raw(name: str) -> pl.Expr:
    return pl.col(_RAW + name)


def _t(name: str) -> pl.Expr:
    return pl.col(_T + name)


def _c(name: str) -> pl.Expr:
    return pl.col(_TMP + name)


def normalise(frame: pl.LazyFrame, options: NormaliseOptions, as_of: date) -> pl.LazyFrame:
    """Normalise and validate; see the module docstring and docs/architecture.md.

    `frame` has ``row`` (UInt32) and one String column per mapped canonical field. The result
    has every column of NORMALISED_COLUMNS plus ``protected_identity``, ``exclusion`` and
    ``problems``, one row per input row, in input order.
    """
    present = set(frame.collect_schema().names())
    mapped = [name for name in CANONICAL_FIELDS if name in present]
    frame = frame.select(
        pl.col(ROW_COLUMN).cast(pl.UInt32),
        *[pl.col(name).cast(pl.String).alias(_RAW + name) for name in mapped],
        *[pl.lit(None, pl.String).alias(_RAW + n) for n in CANONICAL_FIELDS if n not in mapped],
    )
    frame = frame.with_columns(
        _empty_to_null(_raw(name).str.strip_chars()).alias(_T + name) for name in CANONICAL_FIELDS
    )
    frame = with_national_ids(
        frame, _T + "national_id", options.national_id_scheme, as_of, _TMP + "nid"
    )
    frame = _dates(frame, options, as_of)
    frame = _names(frame, mapped)
    frame = _address(frame)
    frame = _categories(frame, options)
    frame = _contacts(frame, options)
    frame = _problems(frame, options, as_of, set(mapped))
    return frame.select(
        *[_output(name, dtype) for name, dtype in NORMALISED_COLUMNS.items()],
        _c("protected").alias("protected_identity"),
        _c("exclusion").alias("exclusion"),
        _c("problems").alias("problems"),
    )


def _output(name: str, dtype: str) -> pl.Expr:
    return pl.col(_TMP + name if name != ROW_COLUMN else name).cast(getattr(pl, dtype)).alias(name)


# --- dates ---------------------------------------------------------------------------------


def _date_formats(options: NormaliseOptions, name: str) -> tuple[str, ...]:
    extra = options.date_formats.get(name, ())
    return ISO_DATE_FORMATS + tuple(f for f in extra if f not in ISO_DATE_FORMATS)


def _human_format(fmt: str) -> str:
    """ "%d/%m/%Y" -> "DD/MM/YYYY": the report is read by data officers, not programmers."""
    for code, text in (("%Y", "YYYY"), ("%y", "YY"), ("%m", "MM"), ("%d", "DD"), ("%H", "hh")):
        fmt = fmt.replace(code, text)
    return fmt.replace("%M", "mm").replace("%S", "ss")


def _parse_date(value: pl.Expr, formats: tuple[str, ...]) -> pl.Expr:
    attempts = []
    for fmt in formats:
        if any(code in fmt for code in ("%H", "%M", "%S", "%T", "%I", "%R")):
            attempts.append(value.str.strptime(pl.Datetime, fmt, strict=False).dt.date())
        else:
            attempts.append(value.str.strptime(pl.Date, fmt, strict=False))
    return pl.coalesce(attempts)


def _dates(frame: pl.LazyFrame, options: NormaliseOptions, as_of: date) -> pl.LazyFrame:
    frame = frame.with_columns(
        _parse_date(_t(name), _date_formats(options, name)).alias(_TMP + "parsed_" + name)
        for name in DATE_FIELDS
    ).with_columns(
        _c("nid").struct.field("canonical").alias(_TMP + "national_id"),
        _c("nid").struct.field("birth_date").alias(_TMP + "id_birth_date"),
        _c("parsed_contract_start").alias(_TMP + "contract_start"),
        _c("parsed_contract_end").alias(_TMP + "contract_end"),
    )
    # The id's birth date wins: the id is checked (check digit), a birth date column is not.
    frame = frame.with_columns(
        pl.coalesce(_c("id_birth_date"), _c("parsed_birth_date")).alias(_TMP + "birth_date")
    )
    as_of_number = as_of.year * 10_000 + as_of.month * 100 + as_of.day
    birth = _c("birth_date")
    # Whole years of age: compare YYYYMMDD numbers, which handles "birthday not yet this year".
    # (month and day are Int8 in polars: widen before multiplying.)
    birth_number = (
        birth.dt.year().cast(pl.Int32) * 10_000
        + birth.dt.month().cast(pl.Int32) * 100
        + birth.dt.day().cast(pl.Int32)
    )
    age = (as_of_number - birth_number) // 10_000
    return frame.with_columns(age.alias(_TMP + "age"))


# --- names ---------------------------------------------------------------------------------


def _names(frame: pl.LazyFrame, mapped: Sequence[str]) -> pl.LazyFrame:
    full = _display(_t("full_name"))
    frame = frame.with_columns(full.alias(_TMP + "full"))
    full = _c("full")
    has_comma = full.str.contains(",", literal=True)
    # "Efternamn, Förnamn" when there is a comma; otherwise the last word is the surname.
    last_from_full = (
        pl.when(has_comma)
        .then(full.str.extract(r"^([^,]*),"))
        .otherwise(full.str.extract(r"(\S+)$"))
    )
    first_from_full = (
        pl.when(has_comma)
        .then(full.str.extract(r"^[^,]*,(.*)$"))
        .otherwise(full.str.extract(r"^(.*\S)\s+\S+$"))
    )
    first = _display(_t("first_name"))
    last = _display(_t("last_name"))
    if "full_name" in mapped:
        first = pl.coalesce(first, _display(first_from_full))
        last = pl.coalesce(last, _display(last_from_full))
    frame = frame.with_columns(first.alias(_TMP + "first_name"), last.alias(_TMP + "last_name"))
    return _with_keys(
        frame,
        {
            _TMP + "first_name_key": _TMP + "first_name",
            _TMP + "last_name_key": _TMP + "last_name",
        },
    )


def _with_keys(frame: pl.LazyFrame, keys: Mapping[str, str]) -> pl.LazyFrame:
    """Add fold_key columns. Folding runs once per distinct value: registers repeat names,
    streets and towns, and the fold (several regex passes) costs 1.6 s per million values."""
    return frame.with_columns(
        _per_distinct(pl.col(source), fold_key).alias(key) for key, source in keys.items()
    )


def _per_distinct(value: pl.Expr, function: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """`function(value)`, computed on the distinct values and mapped back to every row."""
    # maintain_order: the two unique() calls must list the values in the same order.
    distinct = value.unique(maintain_order=True)
    return value.replace_strict(distinct, function(distinct), default=None)


# --- address -------------------------------------------------------------------------------

# name (ending in a non-digit), number, an optional single letter, then anything not a letter.
_STREET = r"^(.*?\D)\s*(\d+)\s*(\p{L})?(?:[^\p{L}].*)?$"


def _address(frame: pl.LazyFrame) -> pl.LazyFrame:
    frame = frame.with_columns(
        _display(_t("street_address")).alias(_TMP + "street_address"),
        _display(_t("city")).alias(_TMP + "city"),
    ).with_columns(_c("street_address").str.extract_groups(_STREET).alias(_TMP + "street"))
    street_name = pl.coalesce(_c("street").struct.field("1"), _c("street_address"))
    # "Storg." is "Storgatan" and "Kungsv." "Kungsvägen": the only abbreviations expanded.
    street_name = (
        street_name.str.strip_chars()
        .str.replace(r"(\p{L}{2,})[gG]\.$", "${1}gatan")
        .str.replace(r"(\p{L}{2,})[vV]\.$", "${1}vägen")
    )
    postal = _t("postal_code").str.replace_all(r"\s", "").str.extract(r"^(?i:SE?-?)?(\d{5})$")
    apartment = _t("apartment_number").str.extract(r"^\D*?(\d{4})$")
    frame = frame.with_columns(
        street_name.alias(_TMP + "street_name"),
        _c("street").struct.field("2").alias(_TMP + "street_number"),
        _c("street").struct.field("3").str.to_lowercase().alias(_TMP + "street_letter"),
        postal.alias(_TMP + "postal_code"),
        apartment.alias(_TMP + "apartment_number"),
        _t("contract_id").alias(_TMP + "contract_id"),
        _t("record_id").alias(_TMP + "record_id"),
    )
    return _with_keys(
        frame,
        {_TMP + "street_name_key": _TMP + "street_name", _TMP + "city_key": _TMP + "city"},
    )


# --- categories ----------------------------------------------------------------------------


def _categories(frame: pl.LazyFrame, options: NormaliseOptions) -> pl.LazyFrame:
    contract_types = _folded_lookup(CONTRACT_TYPE_SYNONYMS, options.contract_type_values)
    roles = _folded_lookup(TENANT_ROLE_SYNONYMS, options.tenant_role_values)
    booleans: dict[str, bool] = {
        **{word: True for word in _fold_words(TRUE_WORDS) if word},
        **{word: False for word in _fold_words(FALSE_WORDS) if word},
    }
    flags: dict[str, bool] = {
        **{word: True for word in _fold_words(PROTECTED_TRUE_WORDS) if word},
        **{word: False for word in _fold_words(PROTECTED_FALSE_WORDS) if word},
    }
    names = ("contract_type", "tenant_role", "sublet_approved", "protected_identity")
    frame = frame.with_columns(
        _per_distinct(_t(name), fold_key).alias(_TMP + "fold_" + name) for name in names
    )

    def lookup(name: str, table: Mapping[str, object], dtype: pl.DataType) -> pl.Expr:
        return _c("fold_" + name).replace_strict(table, default=None, return_dtype=dtype)

    return frame.with_columns(
        lookup("contract_type", contract_types, pl.String()).alias(_TMP + "contract_type"),
        lookup("tenant_role", roles, pl.String()).alias(_TMP + "tenant_role"),
        lookup("sublet_approved", booleans, pl.Boolean()).alias(_TMP + "sublet_approved"),
        # Blank means "not protected"; an unknown word is left null and excludes the row.
        pl.when(_t("protected_identity").is_null())
        .then(pl.lit(False))
        .otherwise(lookup("protected_identity", flags, pl.Boolean()))
        .alias(_TMP + "protected"),
    )


# --- phone and e-mail ----------------------------------------------------------------------


def _contacts(frame: pl.LazyFrame, options: NormaliseOptions) -> pl.LazyFrame:
    email = _t("email").str.to_lowercase()
    frame = frame.with_columns(
        pl.when(email.str.contains(r"^[^@\s]+@[^@\s]+$")).then(email).alias(_TMP + "email")
    )
    region = options.phone_region.upper()
    fast = _phone_fast_path(region)
    if fast is None:
        return frame.with_columns(_phone_unique(_t("phone"), region).alias(_TMP + "phone"))
    frame = fast(frame)
    slow = _phone_unique(pl.when(~_c("phone_fast")).then(_t("phone")), region)
    return frame.with_columns(
        pl.when(_c("phone_fast")).then(_c("phone_e164")).otherwise(slow).alias(_TMP + "phone")
    )


def _phone_unique(value: pl.Expr, region: str) -> pl.Expr:
    """phonenumbers once per distinct value (E.164, or null when not a valid number)."""

    def parse(text: str) -> str | None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    def parse_series(values: pl.Series) -> pl.Series:
        unique = values.drop_nulls().unique()
        table = pl.DataFrame(
            {"key": unique, "e164": [parse(v) for v in unique.to_list()]},
            schema={"key": pl.String, "e164": pl.String},
        )
        joined = (
            values.rename("key").to_frame().join(table, on="key", how="left", maintain_order="left")
        )
        return joined.get_column("e164").alias(values.name)

    return value.map_batches(parse_series, return_dtype=pl.String, is_elementwise=True)


_PHONE_TYPES: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _phone_fast_path(region: str) -> Callable[[pl.LazyFrame], pl.LazyFrame] | None:
    """phonenumbers' parse + is_valid_number for the region's own numbers, as expressions.

    phonenumbers costs about 17 µs per number (17 s per million distinct phones). The usual
    forms "+46 70-123 45 67", "0046...", "070-123 45 67" are parsed here with the library's
    own metadata (country code, prefixes, number patterns and lengths); anything else, and
    regions where this emulation would not be exact, go to phonenumbers. A property test
    checks the two agree.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None or metadata.country_code is None:
        return None
    general_pattern = metadata.general_desc.national_number_pattern
    if general_pattern is None:
        return None
    country_code = metadata.country_code
    # Several regions share the code (NO/SJ, +1): the region of a number needs the library.
    if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())) != 1:
        return None
    prefixes = [rf"\+{country_code}"]
    if metadata.international_prefix == "00":
        prefixes.append(f"00{country_code}")
    national_prefix = metadata.national_prefix
    simple_national = (
        national_prefix is not None
        and national_prefix.isdigit()
        and metadata.national_prefix_for_parsing in (None, national_prefix)
        and metadata.national_prefix_transform_rule is None
    )
    if simple_national:
        prefixes.append(str(national_prefix))
    pattern = rf"^({'|'.join(prefixes)})([1-9][0-9]*)$"

    def matches(desc: object, number: pl.Expr) -> pl.Expr | None:
        regex = getattr(desc, "national_number_pattern", None)
        if desc is None or regex is None:
            return None
        ok = number.str.contains(f"^(?:{regex})$")
        lengths = tuple(getattr(desc, "possible_length", ()) or ())
        if lengths:
            ok = ok & number.str.len_bytes().is_in(list(lengths))
        return ok

    def apply(frame: pl.LazyFrame) -> pl.LazyFrame:
        cleaned = _t("phone").str.replace_all(r"[ \-]", "")
        frame = frame.with_columns(cleaned.str.extract_groups(pattern).alias(_TMP + "ph"))
        frame = frame.with_columns(
            _c("ph").struct.field("1").alias(_TMP + "ph_prefix"),
            _c("ph").struct.field("2").alias(_TMP + "ph_nsn"),
        )
        nsn = _c("ph_nsn")
        general = matches(metadata.general_desc, nsn)
        assert general is not None  # checked above: general_desc has a pattern
        type_checks = [
            m for t in _PHONE_TYPES if (m := matches(getattr(metadata, t), nsn)) is not None
        ]
        valid = general & pl.any_horizontal(type_checks) if type_checks else pl.lit(False)
        applies = nsn.is_not_null()
        if simple_national:
            # phonenumbers keeps the national prefix when the number with it is already a
            # plausible national number and the one without is not; leave that to it.
            with_prefix = pl.concat_str(_c("ph_prefix"), nsn)
            keeps_prefix = (
                (_c("ph_prefix") == national_prefix)
                & with_prefix.str.contains(f"^(?:{general_pattern})$")
                & ~nsn.str.contains(f"^(?:{general_pattern})$")
            )
            applies = applies & ~keeps_prefix
        return frame.with_columns(
            applies.fill_null(False).alias(_TMP + "phone_fast"),
            pl.when(valid).then(pl.lit(f"+{country_code}") + nsn).alias(_TMP + "phone_e164"),
        )

    return apply


# --- problems and exclusion ----------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    """One possible problem of a row, in the order in which they are reported."""

    when: pl.Expr
    field: str
    reason: str
    expected: pl.Expr
    severity: str


def _problems(
    frame: pl.LazyFrame, options: NormaliseOptions, as_of: date, mapped: set[str]
) -> pl.LazyFrame:
    frame = frame.with_columns(
        pl.col(ROW_COLUMN).min().over(_c("record_id")).alias(_TMP + "first_row")
    )
    scheme = options.national_id_scheme
    protected = _c("protected").fill_null(False)
    nid_reason = _c("nid").struct.field("reason")
    nid_reason_text = nid_reason.replace_strict(
        {
            "bad_format": "not in that form",
            "bad_length": "wrong number of digits",
            "bad_check_digit": "the check digit does not match",
            "bad_date": "no valid birth date on or before the extract date",
        },
        default="invalid",
    )

    def text(value: str) -> pl.Expr:
        return pl.lit(value, pl.String)

    def date_text(name: str) -> str:
        return "a date as " + " or ".join(_human_format(f) for f in _date_formats(options, name))

    checks: list[_Check] = [
        _Check(
            _c("protected").fill_null(False),
            "protected_identity",
            "protected_identity",
            text("no protected identity (rows with skyddad identitet are never used)"),
            _EXCLUDED,
        )
    ]
    checks += [
        _Check(_t(name).is_null(), name, "missing_required", text("a value"), _EXCLUDED)
        for name in REQUIRED_FIELDS
    ]
    checks.append(
        _Check(
            nid_reason.is_not_null(),
            "national_id",
            "invalid_national_id",
            pl.concat_str(text(expected_form(scheme) + " (found: "), nid_reason_text, text(")")),
            _EXCLUDED,
        )
    )
    checks += [
        _Check(
            _t(name).is_not_null() & _c("parsed_" + name).is_null(),
            name,
            "unparseable_date",
            text(date_text(name)),
            _EXCLUDED,
        )
        for name in DATE_FIELDS
        if name not in _OPTIONAL_DATES
    ]
    # An optional date nobody can read is dropped with a warning, not a reason to lose the row:
    # the contract still counts, the exact lane needs only the id, and a personnummer carries
    # the birth date anyway (impossible dates such as 19450493 are common typos in registers).
    checks += [
        _Check(
            _t(name).is_not_null() & _c("parsed_" + name).is_null(),
            name,
            "unparseable_date",
            text(date_text(name) + " (the value was dropped; the row is kept)"),
            _WARNING,
        )
        for name in _OPTIONAL_DATES
    ]
    checks.append(
        _Check(
            _c("contract_end") < _c("contract_start"),
            "contract_end",
            "invalid_value",
            text("a contract end on or after the contract start"),
            _EXCLUDED,
        )
    )
    if "contract_type" in mapped:
        checks.append(
            _Check(
                _c("contract_type").is_null(),
                "contract_type",
                "invalid_value",
                text(
                    "a contract type: "
                    + _describe(CONTRACT_TYPE_SYNONYMS, options.contract_type_values)
                ),
                _EXCLUDED,
            )
        )
    checks += [
        _Check(
            _c("protected").is_null(),
            "protected_identity",
            "invalid_value",
            text(
                "ja or nej (also j/n, yes/no, true/false, 1/0, x, skyddad, sekretess, spärr; "
                "blank means nej); the row is excluded until the flag is readable"
            ),
            _EXCLUDED,
        ),
        _Check(
            _c("age") < options.min_age,
            # The age comes from the id unless the scheme carries no birth date.
            "birth_date" if scheme == "generic" else "national_id",
            "minor",
            text(f"a tenant aged {options.min_age} or older on {as_of.isoformat()}"),
            _EXCLUDED,
        ),
        _Check(
            _c("record_id").is_not_null() & (pl.col(ROW_COLUMN) != _c("first_row")),
            "record_id",
            "duplicate_record_id",
            pl.concat_str(
                text("a record id used once (first seen on row "),
                _c("first_row").cast(pl.String),
                text(")"),
            ),
            _EXCLUDED,
        ),
        _Check(
            _c("id_birth_date").is_not_null()
            & _c("parsed_birth_date").is_not_null()
            & (_c("id_birth_date") != _c("parsed_birth_date")),
            "birth_date",
            "inconsistent_value",
            text("the birth date in the national id (that one is kept)"),
            _WARNING,
        ),
        _warning("postal_code", "a 5-digit postal code such as 581 83"),
        _warning("apartment_number", "a 4-digit lägenhetsnummer such as 1102"),
        _warning(
            "tenant_role",
            "a tenant role: " + _describe(TENANT_ROLE_SYNONYMS, options.tenant_role_values),
        ),
        _warning("sublet_approved", "ja or nej (also yes/no, true/false, 1/0, x)"),
        _warning(
            "phone",
            f"a valid phone number of region {options.phone_region.upper()} "
            "or with its +country code",
        ),
        _warning("email", "an e-mail address such as namn@example.se, without spaces"),
    ]

    # A protected row reports only that: its other values stay out of the report.
    frame = frame.with_columns(
        (check.when if i == 0 else check.when & ~protected)
        .fill_null(False)
        .alias(f"{_TMP}flag_{i}")
        for i, check in enumerate(checks)
    ).with_columns(
        pl.coalesce(
            pl.when(_c(f"flag_{i}")).then(text(check.reason))
            for i, check in enumerate(checks)
            if check.severity == _EXCLUDED
        ).alias(_TMP + "exclusion"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(_TMP + "index"),
    )
    # The problem lists are built from the (few) rows that have problems and joined back:
    # concat_list over 20 mostly-null struct columns took 27 s per million rows.
    found = pl.concat(
        frame.filter(_c(f"flag_{i}")).select(
            _c("index"),
            pl.lit(i, pl.UInt8).alias(_TMP + "check"),
            pl.struct(
                column=text(options.source(check.field)),
                reason=text(check.reason),
                expected=check.expected,
                value=_raw(check.field).fill_null(""),
                severity=text(check.severity),
            ).alias(_TMP + "problems"),
        )
        for i, check in enumerate(checks)
    )
    lists = (
        found.sort(_TMP + "index", _TMP + "check")
        .group_by(_TMP + "index", maintain_order=True)
        .agg(_c("problems"))
    )
    return frame.join(lists, on=_TMP + "index", how="left", maintain_order="left").with_columns(
        _c("problems").fill_null(pl.lit([], pl.List(PROBLEM_DTYPE)))
    )


def _warning(name: str, expected: str) -> _Check:
    """An optional value that was given but could not be normalised: kept as null."""
    return _Check(
        _t(name).is_not_null() & _c(name).is_null(),
        name,
        "invalid_value",
        pl.lit(expected, pl.String),
        _WARNING,
    )
