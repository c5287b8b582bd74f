"""The reader: the one place that reads a housing company's register export.

A data officer points the connector at whatever the property-management system produces: a
CSV (any of the usual delimiters, UTF-8 with or without BOM, Windows-1252 or Latin-1), an XLSX
workbook, a Parquet file, or a SQL query against the system's database. Every source comes out
the same way: a :class:`RawExtract` whose frame holds every source column as ``String`` plus
:data:`RAW_ROW_COLUMN`, the row number as a person counts rows in the file, so that the
validation report can point at the right row.

Nothing is interpreted here (no trimming, no date parsing): typed cells are only turned into the
text a person would have typed (a whole number without ``.0``, a date as ISO ``YYYY-MM-DD``).
Interpretation belongs to :mod:`connectors.normalise`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from connectors.errors import ExportError

__all__ = [
    "ENCODINGS",
    "FORMATS",
    "RAW_ROW_COLUMN",
    "Detected",
    "RawExtract",
    "SourceOptions",
    "delimiter_hint",
    "read_export",
    "read_sample",
    "sheet_names",
]

RAW_ROW_COLUMN: Final = "__row"

FORMATS: Final = ("auto", "csv", "xlsx", "parquet", "sql")
ENCODINGS: Final = ("auto", "utf-8", "utf-8-sig", "windows-1252", "latin-1")

_PREVIEW_ROWS: Final = 10
# Enough text to see the header and a few dozen rows, even with long addresses.
_SNIFF_CHARS: Final = 64 * 1024
_SNIFF_RECORDS: Final = 50
_CANDIDATE_DELIMITERS: Final = (",", ";", "\t")
# Bytes that Windows-1252 leaves undefined: a file containing them is not Windows-1252.
_CP1252_UNDEFINED: Final = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_SUFFIX_FORMATS: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_ENCODING_ALIASES: Final = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "windows-1252": "windows-1252",
    "cp1252": "windows-1252",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}


@dataclass(frozen=True)
class SourceOptions:
    """How to read the export; ``auto`` values are detected from the file."""

    format: str = "auto"  # auto | csv | xlsx | parquet | sql
    encoding: str = "auto"  # auto | utf-8 | utf-8-sig | windows-1252 | latin-1
    delimiter: str = "auto"  # auto | "," | ";" | "\t" (any single character)
    sheet: str | None = None  # xlsx: sheet name; None = first sheet
    header_row: int = 1  # row of the header (1-based)
    sql_url: str | None = None  # format sql: SQLAlchemy URL of the register database
    sql_query: str | None = None


@dataclass(frozen=True)
class Detected:
    """What was actually used to read the export, for the validation summary."""

    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header_row: int


@dataclass(frozen=True)
class RawExtract:
    """Every source column as String, plus :data:`RAW_ROW_COLUMN` (UInt32)."""

    frame: pl.DataFrame
    detected: Detected
    preview: tuple[tuple[str, ...], ...]  # first <= 10 raw rows of the file/sheet


def read_export(source: Path | None, options: SourceOptions) -> RawExtract:
    """Read the whole export. Raises :class:`ExportError` when it can not be read as configured.

    A header without data rows gives an empty frame: the caller reports "no data rows".
    """
    return _read(source, options, limit=None)


def read_sample(source: Path | None, options: SourceOptions, rows: int = 200) -> RawExtract:
    """Read the header and the first ``rows`` data rows (for ``connector init --sample``)."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    return _read(source, options, limit=rows)


def sheet_names(source: Path) -> list[str]:
    """The sheet names of a workbook, in order."""
    import fastexcel  # lazily: only workbooks need it

    try:
        with _quiet_fastexcel():
            return list(fastexcel.read_excel(str(source)).sheet_names)
    except Exception as exc:  # fastexcel raises its own error types
        raise ExportError(
            f"{source.name} can not be read as a workbook ({type(exc).__name__})"
        ) from None


def delimiter_hint(header: list[str]) -> str | None:
    """If a header came out as one column that is really several, name the likely delimiter."""
    if len(header) != 1:
        return None
    counts = {d: header[0].count(d) for d in (";", ",", "|", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return None
    shown = "\\t" if best == "\t" else best
    return (
        f"the header was read as one single column, so the delimiter is probably {shown!r}; "
        f'set delimiter = "{shown}" under [source]'
    )


# --- dispatch ------------------------------------------------------------------------------


def _read(source: Path | None, options: SourceOptions, limit: int | None) -> RawExtract:
    if options.header_row < 1:
        raise ExportError(
            f"header_row = {options.header_row} is not a row number: expected 1 or more "
            "(the row of the file that holds the column names, as a person counts rows)"
        )
    fmt = _resolve_format(source, options)
    if fmt == "sql":
        return _read_sql(options, limit)
    assert source is not None  # _resolve_format refuses a missing source for file formats
    if not source.is_file():
        raise ExportError(
            f"the export {source} does not exist or is not a file: "
            "expected the path of a CSV, XLSX or Parquet export"
        )
    if fmt == "csv":
        return _read_csv(source, options, limit)
    if fmt == "xlsx":
        return _read_xlsx(source, options, limit)
    return _read_parquet(source, limit)


def _resolve_format(source: Path | None, options: SourceOptions) -> str:
    fmt = options.format.strip().lower()
    if fmt not in FORMATS:
        raise ExportError(
            f"unknown source format {options.format!r}: expected one of {', '.join(FORMATS)} "
            "(format under [source])"
        )
    if fmt == "sql":
        if not options.sql_url or not options.sql_query:
            raise ExportError(
                'format = "sql" needs both sql_url and sql_query under [source]: '
                "the database URL of the property-management system and the SELECT to run"
            )
        return fmt
    if source is None:
        raise ExportError(
            "no export file given: expected the path of a CSV, XLSX or Parquet export "
            '(or format = "sql" with sql_url and sql_query under [source])'
        )
    if fmt != "auto":
        return fmt
    by_suffix = _SUFFIX_FORMATS.get(source.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    try:
        with source.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ExportError(f"the export {source} can not be opened ({exc.strerror})") from None
    if magic.startswith(b"PK\x03\x04"):
        return "xlsx"
    if magic == b"PAR1":
        return "parquet"
    if b"\x00" in magic:
        raise ExportError(
            f"{source.name} is not a format the connector reads: expected CSV, XLSX or "
            "Parquet; set format under [source] if the file name does not say it"
        )
    return "csv"


# --- CSV -----------------------------------------------------------------------------------


def _read_csv(source: Path, options: SourceOptions, limit: int | None) -> RawExtract:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ExportError(f"the export {source} can not be read ({exc.strerror})") from None
    if not data.strip(b" \t\r\n") or data.strip(b" \t\r\n") == _UTF8_BOM:
        raise ExportError(
            f"the file is empty ({source.name}): expected a header row followed by data rows; "
            "check that the export finished writing"
        )
    text, encoding = _decode(data, options.encoding)
    classic_mac = "\r" in text and "\n" not in text
    if classic_mac:
        # A classic-Mac file (CR only); polars splits lines on \n and strips a CR before it,
        # so Windows line endings need no rewrite (which would cost ~0.5 s per million rows).
        text = text.replace("\r", "\n")
    delimiter = _resolve_delimiter(text, options)
    preview = _csv_preview(text, delimiter)
    header = _csv_header(text, delimiter, options.header_row)
    if not header:
        raise ExportError(
            f"header_row = {options.header_row}, but the file has no column names on that row: "
            "set header_row under [source] to the row that holds the column names"
        )
    if encoding in ("utf-8", "utf-8-sig") and not classic_mac:
        # Already UTF-8 and validated by the decode: hand polars the bytes, skip a copy.
        payload = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    else:
        payload = text.encode("utf-8")
    try:
        frame = pl.read_csv(
            payload,
            separator=delimiter,
            has_header=True,
            skip_rows=options.header_row - 1,
            infer_schema=False,
            n_rows=limit,
            # A one-column header means a wrong delimiter: let the read succeed so the mapping
            # step can say which delimiter it probably is, instead of a parser error.
            truncate_ragged_lines=len(header) <= 1,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise ExportError(_csv_failure(text, delimiter, options.header_row, exc)) from None
    detected = Detected("csv", encoding, delimiter, None, options.header_row)
    return RawExtract(_finish(frame, options.header_row), detected, preview)


def _decode(data: bytes, requested: str) -> tuple[str, str]:
    """Decode the whole file once; returns the text and the encoding to report."""
    wanted = requested.strip().lower()
    if wanted == "auto":
        if data.startswith(_UTF8_BOM):
            return _decode_as(data[len(_UTF8_BOM) :], "utf-8", "utf-8-sig"), "utf-8-sig"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        if _has_cp1252_undefined(data):
            return data.decode("latin-1"), "latin-1"
        # Without bytes 0x80-0x9F both decode the same; Windows-1252 is what exports really are.
        return data.decode("windows-1252"), "windows-1252"
    encoding = _ENCODING_ALIASES.get(wanted)
    if encoding is None:
        raise ExportError(
            f"unknown encoding {requested!r}: expected one of {', '.join(ENCODINGS)} "
            "(encoding under [source])"
        )
    if encoding in ("utf-8", "utf-8-sig"):
        # A BOM is harmless whichever UTF-8 spelling was set; never let it into a column name.
        if data.startswith(_UTF8_BOM):
            return _decode_as(data[len(_UTF8_BOM) :], "utf-8", requested), "utf-8-sig"
        return _decode_as(data, "utf-8", requested), encoding
    return _decode_as(data, encoding, requested), encoding


def _has_cp1252_undefined(data: bytes) -> bool:
    # bytes.find runs in C; iterating the bytes in Python costs seconds per million rows.
    return any(byte in data for byte in _CP1252_UNDEFINED)


def _decode_as(data: bytes, codec: str, requested: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"the file is not valid {requested}: line {line} has bytes that do not decode"
        if not _has_cp1252_undefined(data):
            message += (
                '; it looks like Windows-1252. Set encoding = "windows-1252" (or "auto") '
                "under [source] in connector.toml"
            )
        else:
            message += '; set encoding = "auto" under [source] to detect it'
        raise ExportError(message) from None


def _resolve_delimiter(text: str, options: SourceOptions) -> str:
    wanted = options.delimiter
    if wanted.lower() in ("tab", "\\t"):
        return "\t"
    if wanted != "auto":
        if len(wanted) != 1 or wanted in ('"', "\n", "\r"):
            raise ExportError(
                f"delimiter {wanted!r} is not usable: expected one character such as "
                '",", ";" or "\\t" (or "auto") under [source]'
            )
        return wanted
    sample = _sniff_text(text)
    best: tuple[bool, float, int] | None = None
    chosen = ""
    for candidate in _CANDIDATE_DELIMITERS:
        records = [r for r in _records(sample, candidate, options.header_row + _SNIFF_RECORDS)]
        if len(records) < options.header_row:
            continue
        width = len(records[options.header_row - 1])
        body = [r for r in records[options.header_row :] if any(cell for cell in r)]
        consistent = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (width > 1, consistent, width)
        if best is None or score > best:
            best, chosen = score, candidate
    if best is not None and best[0]:
        return chosen
    # No candidate splits the header: it is one column (or another delimiter, which the mapping
    # step will name). Read it with a candidate absent from the text so no row is ragged.
    for candidate in _CANDIDATE_DELIMITERS:
        if candidate not in sample:
            return candidate
    return ","


def _sniff_text(text: str) -> str:
    if len(text) <= _SNIFF_CHARS:
        return text
    cut = text.rfind("\n", 0, _SNIFF_CHARS)
    return text[: cut if cut > 0 else _SNIFF_CHARS]


def _records(text: str, delimiter: str, limit: int) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for index, record in enumerate(reader):
            if index >= limit:
                return
            yield record
    except csv.Error:
        # A quoted field cut by the sniffing window: the records so far are enough.
        return


def _csv_preview(text: str, delimiter: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(r) for r in _records(_sniff_text(text), delimiter, _PREVIEW_ROWS))


def _csv_header(text: str, delimiter: str, header_row: int) -> list[str]:
    records = list(_records(_sniff_text(text), delimiter, header_row))
    return records[header_row - 1] if len(records) >= header_row else []


def _csv_failure(text: str, delimiter: str, header_row: int, exc: Exception) -> str:
    """Find the row polars choked on, so the message can point at it."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    width = -1
    try:
        for row_number, record in enumerate(reader, start=1):
            if row_number == header_row:
                width = len(record)
            elif row_number > header_row and len(record) > width:
                return (
                    f"row {row_number} has {len(record)} fields but the header has {width}: "
                    "check the delimiter (delimiter under [source]) and that fields containing "
                    "it are quoted"
                )
    except csv.Error:
        return (
            f"the CSV can not be parsed after row {reader.line_num}: check for an unclosed "
            'quote (") in that row'
        )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the CSV can not be parsed ({first_line}): check the delimiter and quoting"


# --- XLSX ----------------------------------------------------------------------------------


@contextmanager
def _quiet_fastexcel() -> Iterator[None]:
    """fastexcel logs a warning for every all-empty column ("falling back to string"): that is
    exactly what the reader wants, and the warning would only confuse a data officer."""
    logger = logging.getLogger("fastexcel")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _read_xlsx(source: Path, options: SourceOptions, limit: int | None) -> RawExtract:
    with _quiet_fastexcel():
        return _read_xlsx_quietly(source, options, limit)


def _read_xlsx_quietly(source: Path, options: SourceOptions, limit: int | None) -> RawExtract:
    import fastexcel  # lazily: only workbooks need it

    try:
        reader = fastexcel.read_excel(str(source))
    except Exception as exc:  # fastexcel raises its own tree; all mean "not a readable workbook"
        raise ExportError(
            f"{source.name} can not be read as an Excel workbook ({type(exc).__name__}): "
            "expected an .xlsx file; set format under [source] if it is something else"
        ) from None
    names: list[str] = list(reader.sheet_names)
    if not names:
        raise ExportError(f"the workbook {source.name} has no sheets: expected one with data")
    sheet = options.sheet if options.sheet is not None else names[0]
    if sheet not in names:
        raise ExportError(
            f"the workbook has no sheet {sheet!r}: its sheets are "
            f"{', '.join(repr(n) for n in names)}; set sheet under [source] to one of them"
        )
    try:
        raw = pl.read_excel(
            source,
            sheet_name=sheet,
            engine="calamine",
            has_header=False,
            read_options={"header_row": None, "n_rows": _PREVIEW_ROWS},
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
        )
    except Exception as exc:  # same reason as above
        raise ExportError(
            f"sheet {sheet!r} of {source.name} can not be read ({type(exc).__name__})"
        ) from None
    preview = tuple(
        tuple("" if v is None else _MIDNIGHT.sub(r"\1", str(v)) for v in row)
        for row in raw.iter_rows()
    )
    if raw.height == 0 or all(not any(row) for row in preview):
        raise ExportError(
            f"the file is empty: sheet {sheet!r} of {source.name} has no cells; "
            "expected a header row followed by data rows (sheet under [source] picks another)"
        )
    read_options: dict[str, object] = {"header_row": options.header_row - 1}
    if limit is not None:
        read_options["n_rows"] = limit
    try:
        frame = pl.read_excel(
            source,
            sheet_name=sheet,
            engine="calamine",
            read_options=read_options,
            # Inference over every row: a text cell after row 100 must not become null.
            infer_schema_length=None,
            # Keep empty rows so row numbers stay true; _finish drops them after numbering.
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
        )
    except Exception as exc:  # same reason as above
        raise ExportError(
            f"sheet {sheet!r} of {source.name} can not be read with header_row = "
            f"{options.header_row} ({type(exc).__name__}): check header_row under [source]"
        ) from None
    frame = _as_strings(frame, midnight_text=True)
    detected = Detected("xlsx", None, None, sheet, options.header_row)
    return RawExtract(_finish(frame, options.header_row), detected, preview)


# --- Parquet and SQL -----------------------------------------------------------------------


def _read_parquet(source: Path, limit: int | None) -> RawExtract:
    try:
        frame = pl.read_parquet(source, n_rows=limit)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ExportError(
            f"{source.name} can not be read as Parquet ({type(exc).__name__}): "
            "expected a Parquet file; set format under [source] if it is something else"
        ) from None
    frame = _as_strings(frame, midnight_text=False)
    return _tabular(frame, Detected("parquet", None, None, None, 1))


def _read_sql(options: SourceOptions, limit: int | None) -> RawExtract:
    import sqlalchemy  # lazily: only database sources need it, and it is slow to import

    assert options.sql_url is not None and options.sql_query is not None
    try:
        engine = sqlalchemy.create_engine(options.sql_url)
    except (sqlalchemy.exc.ArgumentError, ImportError) as exc:
        # The URL may carry a password: name the problem, never echo the URL.
        raise ExportError(
            f"sql_url under [source] is not a usable SQLAlchemy URL ({type(exc).__name__}): "
            "expected e.g. postgresql+psycopg://user@host/db or sqlite:///path/register.db"
        ) from None
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text(options.sql_query)
            if limit is None:
                result = pl.read_database(query, connection, infer_schema_length=None)
                assert isinstance(result, pl.DataFrame)
                frame = result
            else:
                batches = pl.read_database(query, connection, iter_batches=True, batch_size=limit)
                assert not isinstance(batches, pl.DataFrame)
                first = next(iter(batches), None)
                frame = pl.DataFrame() if first is None else first.head(limit)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        raise ExportError(
            f"the SQL source could not be read ({type(exc).__name__}: {detail}): check "
            "sql_url and sql_query under [source]"
        ) from None
    finally:
        engine.dispose()
    frame = _as_strings(frame, midnight_text=False)
    return _tabular(frame, Detected("sql", None, None, None, 1))


def _tabular(frame: pl.DataFrame, detected: Detected) -> RawExtract:
    """Parquet and SQL have no header row of their own; number rows as if row 1 held the names."""
    head = [tuple(frame.columns)] + [
        tuple("" if v is None else str(v) for v in row)
        for row in frame.head(_PREVIEW_ROWS - 1).iter_rows()
    ]
    return RawExtract(_finish(frame, 1), detected, tuple(head))


# --- shared --------------------------------------------------------------------------------

_WHOLE_FLOAT_LIMIT: Final = 2.0**53  # beyond this a float no longer holds every integer
_MIDNIGHT: Final = re.compile(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$")


def _as_strings(frame: pl.DataFrame, *, midnight_text: bool) -> pl.DataFrame:
    """Turn every typed column into the text a person would have typed in the cell."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.String:
            expr = col
            if midnight_text:
                # fastexcel renders date cells in a mixed column as "YYYY-MM-DD 00:00:00".
                expr = col.str.replace(_MIDNIGHT.pattern, "${1}")
        elif dtype.is_float():
            as_float = col.cast(pl.Float64)
            whole = as_float.is_finite() & (as_float == as_float.round(0))
            whole = whole & (as_float.abs() < _WHOLE_FLOAT_LIMIT)
            # A personnummer typed as a number arrives as 198001011234.0: that is "198001011234".
            expr = (
                pl.when(whole)
                .then(as_float.cast(pl.Int64).cast(pl.String))
                .otherwise(as_float.cast(pl.String))
            )
        elif dtype == pl.Date:
            expr = col.dt.strftime("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            midnight = (col.dt.hour() == 0) & (col.dt.minute() == 0) & (col.dt.second() == 0)
            expr = (
                pl.when(midnight)
                .then(col.dt.strftime("%Y-%m-%d"))
                .otherwise(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
            )
        elif isinstance(dtype, pl.Decimal):
            expr = col.cast(pl.String).str.replace(r"\.0+$", "")
        elif dtype == pl.Boolean:
            expr = col.cast(pl.String)
        else:
            expr = col.cast(pl.String, strict=False)
        exprs.append(expr.alias(name))
    return frame.select(exprs) if exprs else frame


def _finish(frame: pl.DataFrame, header_row: int) -> pl.DataFrame:
    """Add row numbers (header = header_row, first data row = header_row + 1), then drop rows
    where every cell is empty: blank lines are not records, but must not shift the numbers."""
    frame = frame.with_row_index(RAW_ROW_COLUMN, offset=header_row + 1).with_columns(
        pl.col(RAW_ROW_COLUMN).cast(pl.UInt32)
    )
    cells = [c for c in frame.columns if c != RAW_ROW_COLUMN]
    if cells and frame.height:
        frame = frame.filter(pl.any_horizontal(pl.col(cells).is_not_null()))
    return frame
