"""The company's mapping profile (``connector.toml``): load it, write it, and apply its mapping.

A data officer edits this file by hand, so :func:`load_profile` reads all of it and reports
every problem at once, each with its key path (``[mapping] nationalitet: ...``) and, for typos,
a did-you-mean. The profile is also the field allowlist in practice: only canonical fields
(:data:`connectors.record.CANONICAL_FIELDS`) can be mapped, and anything that looks like
special-category data is refused with :class:`ForbiddenFieldError` rather than ignored.

:func:`apply_mapping` turns a :class:`~connectors.extract.RawExtract` into the canonical
columns (still text) for :mod:`connectors.normalise`; when mapped columns are missing it says
where the header probably is or which delimiter the file probably uses.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import phonenumbers
import polars as pl
from rapidfuzz import fuzz, process, utils

from connectors.errors import ForbiddenFieldError, ProfileError
from connectors.extract import (
    ENCODINGS,
    FORMATS,
    RAW_ROW_COLUMN,
    RawExtract,
    SourceOptions,
    delimiter_hint,
)
from connectors.identity import SCHEMES
from connectors.protection import CONFIRMED_BY_KEY
from connectors.record import (
    CANONICAL_FIELDS,
    DATE_FIELDS,
    FORBIDDEN_FIELD_WORDS,
    REQUIRED_FIELDS,
    ROW_COLUMN,
)
from contract import CONTRACT_TYPES, TENANT_ROLES

if TYPE_CHECKING:
    from connectors.normalise import NormaliseOptions

__all__ = [
    "COMPANY_ID",
    "DEFAULT_DATE_FORMATS",
    "FORBIDDEN_REASON",
    "Profile",
    "apply_mapping",
    "date_format_problem",
    "forbidden_word",
    "load_profile",
    "render_profile",
]

DEFAULT_DATE_FORMATS: Final = ("%Y-%m-%d",)
FORBIDDEN_REASON: Final = (
    "special-category data (GDPR art. 9) and proxies for it can never leave the company; "
    "remove the line"
)

_KEY_FILES: Final = {
    "matching_key": "matching.key",
    "local_key": "local.key",
    "signing_key": "signing.key",
    "signing_public_key": "signing.pub",
    "reveal_public_key": "reveal.pub",
}
_SECTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "company": ("id",),
    "matcher": ("url", "token_file"),
    "keys": (*_KEY_FILES, "reveal_key_fingerprint"),
    "source": ("format", "encoding", "delimiter", "sheet", "header_row", "sql_url", "sql_query"),
    "mapping": CANONICAL_FIELDS,
    "formats": ("national_id_scheme", *DATE_FIELDS, "phone_region"),
    "constants": (*CANONICAL_FIELDS, CONFIRMED_BY_KEY),
    "values": ("contract_type", "tenant_role"),
    "report": ("language",),
    "protection": ("not_flags",),
}
REPORT_LANGUAGES: Final = ("sv", "en")
COMPANY_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as contract.Manifest
_FINGERPRINT: Final = re.compile(r"^[0-9a-f]{32}$")
# Fields that identify a row or a person: the same value on every row would be nonsense.
_NEVER_CONSTANT: Final = ("record_id", "national_id")
# strftime directives both Python and polars (chrono) read the same way.
_DATE_DIRECTIVES: Final = frozenset("YymdbBHMSfjIpz%")
# Words shorter than this only count as whole words: "kön" must not refuse "Könummer"
# (a housing-queue number), "sex" must not refuse "Sextant".
_WHOLE_WORD_BELOW: Final = 5


@dataclass(frozen=True)
class Profile:
    """A loaded, checked ``connector.toml``. Paths are absolute (relative to ``workspace``)."""

    path: Path
    workspace: Path
    company_id: str
    matcher_url: str
    token_file: Path | None
    matching_key_path: Path
    local_key_path: Path
    signing_key_path: Path
    signing_public_key_path: Path
    reveal_public_key_path: Path
    reveal_key_fingerprint: str | None
    source: SourceOptions
    mapping: Mapping[str, str]  # canonical field -> source column
    constants: Mapping[str, str]
    national_id_scheme: str
    date_formats: Mapping[str, tuple[str, ...]]
    phone_region: str
    contract_type_values: Mapping[str, str] = field(default_factory=dict)
    tenant_role_values: Mapping[str, str] = field(default_factory=dict)
    # Who stated that the export holds no protected identities (with protected_identity = false)
    protected_identity_confirmed_by: str | None = None
    # Report language of report.html: "sv" or "en"
    report_language: str = "sv"
    # Columns the data officer declared are not protection flags although their values look
    # like one ([protection] not_flags): check does not stop for them
    not_protection_flags: tuple[str, ...] = ()

    def normalise_options(self) -> NormaliseOptions:
        """The part of the profile normalisation needs."""
        from connectors.normalise import NormaliseOptions  # lazily: normalise is heavier

        columns = dict(self.mapping)
        columns.update({name: "constant" for name in self.constants})
        return NormaliseOptions(
            national_id_scheme=self.national_id_scheme,
            date_formats=self.date_formats,
            phone_region=self.phone_region,
            contract_type_values=self.contract_type_values,
            tenant_role_values=self.tenant_role_values,
            source_columns=MappingProxyType(columns),
        )


# --- forbidden data ------------------------------------------------------------------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def forbidden_word(name: str) -> str | None:
    """The forbidden word a field or column name contains, if any (English or Swedish).

    Names are compared case- and diacritics-insensitively, word by word; words of five letters
    or more also count inside compounds ("Modersmålsspråk", "preferred_language").
    """
    words = [w for w in re.split(r"[^0-9a-z]+", _fold(name)) if w]
    for forbidden in FORBIDDEN_FIELD_WORDS:
        folded = _fold(forbidden)
        for word in words:
            if word == folded or (len(folded) >= _WHOLE_WORD_BELOW and folded in word):
                return forbidden
    return None


# --- loading -------------------------------------------------------------------------------


class _Problems:
    """Collects every problem of a profile, so the data officer fixes them in one round."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.forbidden: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def refuse(self, where: str, word: str) -> None:
        self.forbidden.append(f"{where}: looks like {word!r}: {FORBIDDEN_REASON}")


def load_profile(path: Path) -> Profile:
    """Read and check ``connector.toml``. Raises one :class:`ProfileError` listing every problem
    (a :class:`ForbiddenFieldError` when any of them is special-category data)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"no profile at {path}: expected a connector.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"the profile {path} can not be read ({type(exc).__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            f"{path} is not valid TOML ({exc}); strings need double quotes, one key per line"
        ) from None
    problems = _Problems()
    workspace = path.resolve().parent
    for section in data:
        if section not in _SECTIONS:
            problems.add(f"[{section}]", "unknown section" + _did_you_mean(section, _SECTIONS))
    tables = {name: _table(data, name, problems) for name in _SECTIONS}
    for name, table in tables.items():
        if name in ("mapping", "constants", "values"):
            continue  # their keys are checked with their values below
        for key in table:
            if key not in _SECTIONS[name]:
                problems.add(f"[{name}] {key}", "unknown key" + _did_you_mean(key, _SECTIONS[name]))

    company_id = _string(tables["company"], "company", "id", problems, required=True)
    if company_id and not COMPANY_ID.match(company_id):
        problems.add(
            "[company] id",
            f"{company_id!r} is not a company id: expected lower-case letters, digits, '-' or "
            "'_', at most 64 characters, as registered at the matcher",
        )
    matcher_url = _string(tables["matcher"], "matcher", "url", problems, required=True)
    if matcher_url and not matcher_url.startswith(("http://", "https://")):
        problems.add("[matcher] url", f"{matcher_url!r} is not an http(s) URL")
    token_name = _string(tables["matcher"], "matcher", "token_file", problems)
    keys = tables["keys"]
    key_paths = {
        name: workspace / (_string(keys, "keys", name, problems) or default)
        for name, default in _KEY_FILES.items()
    }
    fingerprint = _string(keys, "keys", "reveal_key_fingerprint", problems)
    if fingerprint is not None and not _FINGERPRINT.match(fingerprint):
        problems.add(
            "[keys] reveal_key_fingerprint",
            "expected 32 lower-case hex digits, as printed by `matcher keys reveal-public`",
        )

    source = _source(tables["source"], problems)
    mapping = _mapping(tables["mapping"], problems)
    constants = _constants(tables["constants"], mapping, problems)
    confirmed_by = _string(tables["constants"], "constants", CONFIRMED_BY_KEY, problems)
    if confirmed_by is not None and "protected_identity" not in constants:
        problems.add(
            f"[constants] {CONFIRMED_BY_KEY}",
            "confirms nothing without `protected_identity = false` beside it; remove it, or add "
            "that line if the export really holds no protected identities",
        )
    if confirmed_by is None and "protected_identity" in constants:
        problems.add(
            "[constants] protected_identity",
            f'false needs {CONFIRMED_BY_KEY} = "<your name, role, date>" beside it: who '
            "checked that the export holds no protected identities",
        )
    language = _string(tables["report"], "report", "language", problems) or "sv"
    if language not in REPORT_LANGUAGES:
        problems.add("[report] language", f"{language!r}: expected one of sv, en")
    for required in REQUIRED_FIELDS:
        if required not in mapping and required not in constants:
            problems.add(
                f"[mapping] {required}",
                "required field is not mapped: add `"
                + required
                + ' = "<column name in the export>"` under [mapping]',
            )
    scheme, date_formats, region = _formats(tables["formats"], problems)
    values = tables["values"]
    for key in values:
        if key not in _SECTIONS["values"]:
            problems.add(
                f"[values.{key}]", "unknown table" + _did_you_mean(key, _SECTIONS["values"])
            )
    contract_values = _values(values, "contract_type", CONTRACT_TYPES, problems)
    role_values = _values(values, "tenant_role", TENANT_ROLES, problems)
    not_flags = _not_flags(tables["protection"], mapping, problems)

    if problems.forbidden:
        raise ForbiddenFieldError(_summary(path, problems.forbidden + problems.items))
    if problems.items:
        raise ProfileError(_summary(path, problems.items))
    assert company_id is not None and matcher_url is not None
    return Profile(
        path=path.resolve(),
        workspace=workspace,
        company_id=company_id,
        matcher_url=matcher_url,
        token_file=workspace / token_name if token_name else None,
        matching_key_path=key_paths["matching_key"],
        local_key_path=key_paths["local_key"],
        signing_key_path=key_paths["signing_key"],
        signing_public_key_path=key_paths["signing_public_key"],
        reveal_public_key_path=key_paths["reveal_public_key"],
        reveal_key_fingerprint=fingerprint,
        source=source,
        mapping=MappingProxyType(mapping),
        constants=MappingProxyType(constants),
        national_id_scheme=scheme,
        date_formats=MappingProxyType(date_formats),
        phone_region=region,
        contract_type_values=MappingProxyType(contract_values),
        tenant_role_values=MappingProxyType(role_values),
        protected_identity_confirmed_by=confirmed_by,
        report_language=language,
        not_protection_flags=not_flags,
    )


def _not_flags(
    table: Mapping[str, Any], mapping: Mapping[str, str], problems: _Problems
) -> tuple[str, ...]:
    raw = table.get("not_flags", [])
    if not isinstance(raw, list) or not all(isinstance(c, str) and c.strip() for c in raw):
        problems.add(
            "[protection] not_flags",
            'expected a list of column names, e.g. ["Andrahand J/N"]',
        )
        return ()
    flag = mapping.get("protected_identity")
    for column in raw:
        if flag is not None and column.strip().casefold() == flag.strip().casefold():
            problems.add(
                "[protection] not_flags",
                f'"{column}" is the column mapped to protected_identity; it can not also be '
                "declared not a protection flag",
            )
    return tuple(raw)


def _summary(path: Path, lines: list[str]) -> str:
    count = f"{len(lines)} problem" + ("s" if len(lines) != 1 else "")
    body = "\n".join(f"  {line}" for line in lines)
    return f"{path} has {count}:\n{body}\nFix them in the profile and run again."


def _did_you_mean(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    options = list(choices)
    best = process.extractOne(
        word, options, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=75
    )
    if best is not None:
        return f"; did you mean {best[0]!r}?"
    return f"; expected one of {', '.join(options)}"


def _table(data: Mapping[str, Any], name: str, problems: _Problems) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        problems.add(f"[{name}]", "expected a table (a [section] heading with keys below it)")
        return {}
    return value


def _string(
    table: Mapping[str, Any], section: str, key: str, problems: _Problems, *, required: bool = False
) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            problems.add(f"[{section}] {key}", "missing; it is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(f"[{section}] {key}", 'expected a non-empty text in double quotes ("...")')
        return None
    return value


def _source(table: Mapping[str, Any], problems: _Problems) -> SourceOptions:
    defaults = SourceOptions()
    fmt = _string(table, "source", "format", problems) or defaults.format
    if fmt not in FORMATS:
        problems.add("[source] format", f"{fmt!r} is not a format" + _did_you_mean(fmt, FORMATS))
    encoding = _string(table, "source", "encoding", problems) or defaults.encoding
    if encoding.lower() not in (*ENCODINGS, "utf8", "cp1252", "latin1", "iso-8859-1"):
        problems.add(
            "[source] encoding",
            f"{encoding!r} is not supported; expected one of " + ", ".join(ENCODINGS),
        )
    delimiter = table.get("delimiter", defaults.delimiter)
    if not isinstance(delimiter, str) or not (
        delimiter in ("auto", "tab", "\\t") or len(delimiter) == 1
    ):
        problems.add(
            "[source] delimiter", 'expected "auto" or one character such as ",", ";" or "\\t"'
        )
        delimiter = defaults.delimiter
    header_row = table.get("header_row", defaults.header_row)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        problems.add(
            "[source] header_row",
            "expected a whole number, 1 or more: the row holding the column names",
        )
        header_row = defaults.header_row
    sheet = _string(table, "source", "sheet", problems)
    sql_url = _string(table, "source", "sql_url", problems)
    sql_query = _string(table, "source", "sql_query", problems)
    if fmt == "sql" and (sql_url is None or sql_query is None):
        problems.add("[source] format", 'format = "sql" needs both sql_url and sql_query')
    return SourceOptions(
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        header_row=header_row,
        sql_url=sql_url,
        sql_query=sql_query,
    )


def _field_key(section: str, key: str, problems: _Problems) -> bool:
    """Is `key` a canonical field? Records the problem (or the refusal) when it is not."""
    where = f"[{section}] {key}"
    word = forbidden_word(key)
    if word is not None:
        problems.refuse(where, word)
        return False
    if key not in CANONICAL_FIELDS:
        problems.add(
            where,
            "not a field that can be mapped"
            + _field_hint(key)
            + " (fields: "
            + ", ".join(CANONICAL_FIELDS)
            + ")",
        )
        return False
    return True


def _field_hint(key: str) -> str:
    """A did-you-mean that also knows the Swedish and English column names of each field."""
    # Imported here because suggest imports this module.
    from connectors.suggest import field_for_name

    by_synonym = field_for_name(key)
    if by_synonym is not None:
        return f"; did you mean {by_synonym!r}?"
    best = process.extractOne(
        key, CANONICAL_FIELDS, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=75
    )
    return f"; did you mean {best[0]!r}?" if best is not None else ""


def _mapping(table: Mapping[str, Any], problems: _Problems) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for key, column in table.items():
        known = _field_key("mapping", key, problems)
        if not isinstance(column, str) or not column.strip():
            problems.add(
                f"[mapping] {key}", 'expected the column name in double quotes, e.g. "Personnummer"'
            )
            continue
        word = forbidden_word(column)
        if word is not None:
            # Mapping "Nationalitet" to an allowed field name would smuggle it out all the same.
            problems.refuse(f'[mapping] {key} = "{column}"', word)
            continue
        if known:
            mapping[key] = column
    return mapping


def _constants(
    table: Mapping[str, Any], mapping: Mapping[str, str], problems: _Problems
) -> dict[str, str]:
    constants: dict[str, str] = {}
    for key, raw in table.items():
        if key == CONFIRMED_BY_KEY:
            continue  # read by _confirmed_by
        if not _field_key("constants", key, problems):
            continue
        where = f"[constants] {key}"
        if isinstance(raw, bool):
            value = "true" if raw else "false"
        elif isinstance(raw, str | int):
            value = str(raw)
        else:
            problems.add(where, "expected a text in double quotes")
            continue
        if key in _NEVER_CONSTANT:
            problems.add(where, "can not be a constant: it must come from a column of the export")
        elif key in mapping:
            problems.add(where, "is also mapped under [mapping]; keep one of the two")
        elif key == "contract_type" and value not in CONTRACT_TYPES:
            problems.add(
                where, f"{value!r} is not a contract type" + _did_you_mean(value, CONTRACT_TYPES)
            )
        elif key == "protected_identity" and value.strip().casefold() != "false":
            problems.add(
                where,
                "only `protected_identity = false` can be a constant (and only with "
                f"{CONFIRMED_BY_KEY}); map the flag column under [mapping] instead",
            )
        elif key == "tenant_role" and value not in TENANT_ROLES:
            problems.add(
                where, f"{value!r} is not a tenant role" + _did_you_mean(value, TENANT_ROLES)
            )
        else:
            constants[key] = value
    return constants


def _formats(
    table: Mapping[str, Any], problems: _Problems
) -> tuple[str, dict[str, tuple[str, ...]], str]:
    scheme = _string(table, "formats", "national_id_scheme", problems) or SCHEMES[0]
    if scheme not in SCHEMES:
        problems.add(
            "[formats] national_id_scheme",
            f"unknown scheme {scheme!r}" + _did_you_mean(scheme, SCHEMES),
        )
    region = (_string(table, "formats", "phone_region", problems) or "SE").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        problems.add(
            "[formats] phone_region", f"{region!r} is not a region code: expected e.g. SE, NO, DK"
        )
    date_formats: dict[str, tuple[str, ...]] = {}
    for name in DATE_FIELDS:
        raw = table.get(name)
        if raw is None:
            date_formats[name] = DEFAULT_DATE_FORMATS
            continue
        listed = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(f, str) for f in listed)
        ):
            problems.add(f"[formats] {name}", 'expected a list of formats, e.g. ["%Y-%m-%d"]')
            continue
        for fmt in listed:
            reason = date_format_problem(fmt)
            if reason is not None:
                problems.add(f"[formats] {name}", f"{fmt!r}: {reason}")
        date_formats[name] = tuple(listed)
    return scheme, date_formats, region


def date_format_problem(fmt: str) -> str | None:
    """Why `fmt` is not a usable date format (None when it is)."""
    directives = re.findall(r"%(.?)", fmt)
    unknown = sorted({d for d in directives if d not in _DATE_DIRECTIVES})
    if unknown:
        return (
            "unknown directive "
            + ", ".join(f"%{d}" for d in unknown)
            + "; expected strftime codes such as %Y %m %d %H %M %S"
        )
    has = set(directives)
    if not (has & {"Y", "y"}) or not ((has & {"m", "b", "B"} and "d" in has) or "j" in has):
        return "a date format needs a year (%Y or %y), a month (%m) and a day (%d)"
    sample = datetime(2023, 11, 28, 13, 45, 30)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        return "it does not read back what it writes; check the codes and separators"
    return None


def _values(
    values: Mapping[str, Any], name: str, allowed: Sequence[str], problems: _Problems
) -> dict[str, str]:
    table = values.get(name, {})
    where = f"[values.{name}]"
    if not isinstance(table, dict):
        problems.add(where, 'expected a table of "source value" = "canonical value"')
        return {}
    result: dict[str, str] = {}
    for source_value, canonical in table.items():
        if not isinstance(canonical, str) or canonical not in allowed:
            shown = canonical if isinstance(canonical, str) else repr(canonical)
            problems.add(
                f'{where} "{source_value}"',
                f"{shown!r} is not one of {', '.join(allowed)}",
            )
            continue
        result[source_value] = canonical
    return result


# --- writing -------------------------------------------------------------------------------


def _q(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def render_profile(
    company_id: str,
    matcher_url: str,
    mapping: Mapping[str, str],
    date_formats: Mapping[str, Sequence[str]],
    source: SourceOptions,
    *,
    constants: Mapping[str, str] | None = None,
    national_id_scheme: str = "se-personnummer",
    phone_region: str = "SE",
    reveal_key_fingerprint: str | None = None,
    token_file: str | None = None,
    contract_type_values: Mapping[str, str] | None = None,
    tenant_role_values: Mapping[str, str] | None = None,
    unmapped: Sequence[str] = (),
    notes: Sequence[str] = (),
    protected_identity_confirmed_by: str | None = None,
    report_language: str = "sv",
    key_files: Mapping[str, str] | None = None,
    not_protection_flags: Sequence[str] = (),
) -> str:
    """The text of a ``connector.toml``, commented so a data officer can edit it."""
    lines = [
        "# Crosscheck connector profile: how this company's register export is read and mapped.",
        "# Only the fields under [mapping] and [constants] can leave the company, and only",
        "# pseudonymised or sealed. Special-category data (nationality, language, health, ...)",
        "# is refused. Check the mapping with `connector check EXPORT --profile THIS_FILE`.",
        "",
        "[company]",
        f"id = {_q(company_id)}",
        "",
        "[matcher]",
        f"url = {_q(matcher_url)}",
        f"token_file = {_q(token_file)}"
        if token_file
        else '# token_file = "token"        # else the CROSSCHECK_TOKEN environment variable',
        "",
        "[keys]                          # paths relative to this file's folder",
    ]
    for name, default in _KEY_FILES.items():
        comment = (
            "   # from the matcher's operator (matcher keys reveal-public)"
            if name == "reveal_public_key"
            else ""
        )
        path = (key_files or {}).get(name, default)
        lines.append(f"{name} = {_q(path)}{comment}")
    lines.append(
        f"reveal_key_fingerprint = {_q(reveal_key_fingerprint)}   # pin; checked against the file"
        if reveal_key_fingerprint
        else '# reveal_key_fingerprint = "..."   # optional pin; checked against the file'
    )
    lines += [
        "",
        "[source]                        # format: auto | csv | xlsx | parquet | sql",
        f"format = {_q(source.format)}",
        f"encoding = {_q(source.encoding)}   # auto | utf-8 | utf-8-sig | windows-1252 | latin-1",
        f'delimiter = {_q(source.delimiter)}       # auto | "," | ";" | "\\t"',
        f"header_row = {source.header_row}             # the row holding the column names",
        f"sheet = {_q(source.sheet)}" if source.sheet else '# sheet = "Blad1"',
        f"sql_url = {_q(source.sql_url)}" if source.sql_url else '# sql_url = "..."',
        f"sql_query = {_q(source.sql_query)}" if source.sql_query else '# sql_query = "SELECT ..."',
        "",
        '[mapping]                       # canonical field = "source column"',
    ]
    lines += [f"# check: {note}" for note in notes]
    for name in CANONICAL_FIELDS:
        if name in mapping:
            lines.append(f"{name} = {_q(mapping[name])}")
        elif name in REQUIRED_FIELDS and not (constants and name in constants):
            lines.append(f'# {name} = "..."   # required: name the column')
    if unmapped:
        lines.append("# not mapped (stays in the company): " + ", ".join(unmapped))
    lines += [
        "",
        "[formats]",
        f"national_id_scheme = {_q(national_id_scheme)}   # " + " | ".join(SCHEMES),
    ]
    for name in DATE_FIELDS:
        formats = date_formats.get(name)
        if formats:
            lines.append(f"{name} = [{', '.join(_q(f) for f in formats)}]")
        elif name in mapping:
            # No fallback that reads nothing: ISO dates are always read; others need a format.
            lines.append(
                f'# {name} = ["%d %B %Y"]   # no known format read the sample: set the right one'
            )
        else:
            lines.append(f'# {name} = ["%Y%m%d"]')
    lines += [
        f"phone_region = {_q(phone_region)}",
        "",
        "[constants]                      # canonical field = value, for fields the export lacks",
    ]
    if constants:
        lines += [
            f"{name} = {_q(value)}"
            for name, value in constants.items()
            if name != "protected_identity"
        ]
    else:
        lines.append('# contract_type = "residential"')
    if protected_identity_confirmed_by is not None:
        lines += [
            "# Stated on purpose: this export holds no protected identities (skyddad identitet).",
            "protected_identity = false",
            f"{CONFIRMED_BY_KEY} = {_q(protected_identity_confirmed_by)}",
        ]
    elif "protected_identity" not in mapping:
        lines += [
            "# No column is mapped to protected_identity: check and pseudonymise refuse to run",
            "# until you map the flag column, or state that the export holds none:",
            "# protected_identity = false",
            f'# {CONFIRMED_BY_KEY} = "<your name, role, date>"',
        ]
    lines += ["", "[values.contract_type]           # extra source value = canonical type"]
    if contract_type_values:
        lines += [f"{_q(k)} = {_q(v)}" for k, v in contract_type_values.items()]
    else:
        lines.append('# "Bostadsrätt" = "residential"')
    lines += ["", "[values.tenant_role]             # extra source value = primary | co_tenant"]
    if tenant_role_values:
        lines += [f"{_q(k)} = {_q(v)}" for k, v in tenant_role_values.items()]
    else:
        lines.append('# "Kontraktsinnehavare" = "primary"')
    lines += [
        "",
        "[report]",
        f"language = {_q(report_language)}               # report.html: sv | en",
        "",
        "[protection]",
        "# Columns whose values look like a protection flag (J/N, 1/0, X/empty, ...) but that",
        "# are something else, checked by you: check does not stop for them.",
    ]
    if not_protection_flags:
        lines.append(f"not_flags = [{', '.join(_q(c) for c in not_protection_flags)}]")
    else:
        lines.append('# not_flags = ["Andrahand J/N"]')
    return "\n".join(lines) + "\n"


# --- applying ------------------------------------------------------------------------------


def _loose(name: str) -> str:
    return name.strip().casefold()


def apply_mapping(raw: RawExtract, profile: Profile) -> pl.LazyFrame:
    """Select the mapped columns, rename them to canonical fields, add the constants (String)
    and the row number (:data:`connectors.record.ROW_COLUMN`). The plan is returned uncollected.
    """
    header = [c for c in raw.frame.columns if c != RAW_ROW_COLUMN]
    loose: dict[str, list[str]] = {}
    for column in header:
        loose.setdefault(_loose(column), []).append(column)
    resolved: dict[str, str] = {}
    missing: list[tuple[str, str]] = []
    for name, column in profile.mapping.items():
        if column in header:
            resolved[name] = column  # exact match wins over a trimmed, case-folded one
        elif len(loose.get(_loose(column), [])) == 1:
            resolved[name] = loose[_loose(column)][0]
        else:
            missing.append((name, column))
    if missing:
        raise ProfileError(_missing_columns(raw, header, missing, profile))
    exprs = [pl.col(RAW_ROW_COLUMN).alias(ROW_COLUMN)]
    for name in CANONICAL_FIELDS:
        if name in resolved:
            exprs.append(pl.col(resolved[name]).alias(name))
        elif name in profile.constants:
            exprs.append(pl.lit(profile.constants[name], dtype=pl.String).alias(name))
    return raw.frame.lazy().select(exprs)


def _missing_columns(
    raw: RawExtract, header: list[str], missing: list[tuple[str, str]], profile: Profile
) -> str:
    lines = []
    for name, column in missing:
        line = f'  [mapping] {name} = "{column}": no such column in the export'
        if len(header) > 1:
            near = process.extractOne(
                column,
                header,
                scorer=fuzz.WRatio,
                processor=utils.default_process,
                score_cutoff=70,
            )
            if near is not None:
                line += f'; did you mean "{near[0]}"?'
        lines.append(line)
    hints = []
    wanted = {_loose(c) for c in profile.mapping.values()}
    best_row, best_hits = 0, 0
    for number, row in enumerate(raw.preview, start=1):
        hits = len(wanted & {_loose(cell) for cell in row})
        if hits > best_hits:
            best_row, best_hits = number, hits
    if best_row and best_row != raw.detected.header_row and best_hits >= min(2, len(wanted)):
        hints.append(
            f"the header seems to be on row {best_row}; set header_row = {best_row} under [source]"
        )
    delimiter = delimiter_hint(header)
    if delimiter is not None:
        hints.append(delimiter)
    shown = ", ".join(f'"{c}"' for c in header[:40]) + (" ..." if len(header) > 40 else "")
    text = (
        f"{len(missing)} mapped column"
        + (" is" if len(missing) == 1 else "s are")
        + f" not in the export's header (row {raw.detected.header_row}):\n"
        + "\n".join(lines)
    )
    if hints:
        text += "\n" + "\n".join(f"Hint: {h}" for h in hints)
    text += f"\nThe header has: {shown}\nFix [mapping] (or [source]) in {profile.path}."
    return text
