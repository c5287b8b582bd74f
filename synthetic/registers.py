"""Synthetic tenancy registers for demos, tests and benchmarks (`crosscheck-synth`).

:func:`generate` writes one register export per fictional housing company, each in the layout a
real property-management system might produce, and ``truth.csv`` naming every planted case:

* ``linbo`` (Linbo Bostäder, Linköping-like): semicolon CSV in Windows-1252 with CRLF line ends,
  Swedish headers, 10-digit personnummer ``YYMMDD-NNNC`` (``+`` from the year a person turns 100).
* ``norrhem`` (Norrköping-like): XLSX, sheet "Hyresgäster", 12-digit ids as text cells, the name
  as "Efternamn, Förnamn", real Excel date cells, no tenant-role column.
* ``motabo`` (Motala-like): UTF-8 CSV with English headers, ids ``YYYYMMDD-NNNC``, ``%d/%m/%Y``.
* companies 4, 5, ... (``bolag4`` ...) cycle through these three layouts and towns.

The rows are drawn in :mod:`synthetic.people` (vectorised, so 1M rows per company take
seconds); this module writes them out. Every background person has a personnummer that is unique
across all companies and a (first name, surname, birth date) that is unique too, so a
cross-company match that is not planted can not come from the background.

Planted cases (``truth.csv``: case_id, kind, subkind, company, record_id, expect):

==================== ======================================================= ==============
kind                 what                                                    expect
==================== ======================================================= ==============
concurrent_tenancy   same personnummer, residential/student contracts at two hit_exact
                     companies overlapping >= 200 days (subkind both_open,
                     one_open, both_ended)
short_overlap_move   a move between companies, overlap 2-59 days (notice)    no_hit
identity_variant     the same person at two companies, overlap >= 200 days,  hit_fuzzy
                     identity differs (subkinds below)
co_tenant            two people on one contract at one company               no_hit
parking_storage      residential at one company, only parking/storage at    no_hit
                     the other, overlapping >= 200 days
protected_identity   protected row (excluded) + an overlapping contract of   excluded /
                     the same person at another company (then no hit)        no_hit
invalid_id           bad check digit or impossible date (Luhn still valid)   excluded
duplicate_row        an exact copy of a background row, record id included   excluded
minor                a 15-17-year-old tenant                                 excluded
==================== ======================================================= ==============

Identity-variant subkinds: ``typo`` (one edit in first or last name), ``lost_diacritics`` (folded
to ASCII, ``?``, or UTF-8-read-as-cp1252 mojibake), ``swapped_names``, ``new_surname``,
``id_typo`` (one digit of the serial changed, check digit recomputed: valid but different), and
``coordination_replaced`` (a samordningsnummer at one company, the personnummer at the other).
For the four name subkinds the variant record also carries an ``id_typo``-style number: with the
same personnummer at both companies the exact lane would find the pair and the name damage would
never reach the fuzzy lane, which is what these cases exist to exercise.

Overlaps are planted with a margin (>= 200 days for hits, 2-59 days for moves) so that inclusive
or exclusive day counting can not move a case across the 92-day rule minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from synthetic import SyntheticError
from synthetic.namelists import (
    CONTRACT_TYPE_NAMES,
    LAYOUT_HEADERS,
    NORRHEM_SHEET,
    ROLE_NAMES,
    TOWNS,
)
from synthetic.people import CASE_KINDS, VARIANT_SUBKINDS, CompanySpec, draw_registers

__all__ = [
    "CASE_KINDS",
    "EXPECTATIONS",
    "LAYOUT_HEADERS",
    "TRUTH_COLUMNS",
    "VARIANT_SUBKINDS",
    "SyntheticCompany",
    "SyntheticSet",
    "generate",
]

TRUTH_COLUMNS: Final = ("case_id", "kind", "subkind", "company", "record_id", "expect")
EXPECTATIONS: Final = ("hit_exact", "hit_fuzzy", "no_hit", "excluded")

_XLSX_CHUNK: Final = 10_000
_EXCEL_EPOCH: Final = date(1899, 12, 30)


@dataclass(frozen=True)
class SyntheticCompany:
    """One generated register export."""

    company_id: str
    name: str
    export: Path
    format: str  # "csv" or "xlsx"


@dataclass(frozen=True)
class SyntheticSet:
    """Everything :func:`generate` wrote: the exports and the planted-case key."""

    companies: tuple[SyntheticCompany, ...]
    truth: Path
    as_of: date


def _specs(companies: int) -> list[CompanySpec]:
    fixed = [
        ("linbo", "Linbo Bostäder", "linbo"),
        ("norrhem", "Norrhem", "norrhem"),
        ("motabo", "Motabo", "motabo"),
    ]
    specs = []
    for i in range(companies):
        if i < len(fixed):
            cid, name, layout = fixed[i]
        else:
            cid, name, layout = f"bolag{i + 1}", f"Bolag {i + 1}", fixed[i % 3][2]
        specs.append(CompanySpec(cid, name, layout, TOWNS[i % len(TOWNS)]))
    return specs


def generate(
    out_dir: Path,
    *,
    companies: int = 2,
    records: int = 1000,
    seed: int = 1,
    as_of: date = date(2026, 11, 1),
    fast_formats: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SyntheticSet:
    """Write `companies` synthetic register exports and ``truth.csv`` into `out_dir`.

    Each export has exactly `records` rows unless the minimum number of planted cases needs
    more. The same arguments give byte-identical files. `fast_formats` writes the XLSX layout as
    a UTF-8 semicolon CSV (same headers), for 1M-row benchmarks. `progress` is called with the
    number of rows just written, so it can feed a progress bar's ``advance``.
    """
    if companies < 2:
        raise SyntheticError(
            f"synth needs at least 2 companies, got {companies}: every planted case that "
            "matters spans two companies. Use --companies 2 or more."
        )
    if records < 1:
        raise SyntheticError(f"synth needs at least 1 record per company, got {records}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = _specs(companies)
    frames = draw_registers(specs, records, rng=np.random.default_rng(seed), as_of=as_of)

    written = []
    for spec, frame in zip(specs, frames, strict=True):
        export = _export_frame(frame, spec.layout, as_of)
        if spec.layout == "norrhem" and not fast_formats:
            path = out_dir / f"{spec.company_id}.xlsx"
            _write_xlsx(export, path, as_of, progress)
            fmt = "xlsx"
        else:
            path = out_dir / f"{spec.company_id}.csv"
            if spec.layout == "linbo":
                text = export.write_csv(separator=";", line_terminator="\r\n")
                path.write_bytes(text.encode("cp1252"))
            elif spec.layout == "norrhem":
                path.write_text(export.write_csv(separator=";", date_format="%Y-%m-%d"), "utf-8")
            else:
                path.write_text(export.write_csv(separator=","), "utf-8")
            if progress is not None:
                progress(export.height)
            fmt = "csv"
        written.append(SyntheticCompany(spec.company_id, spec.name, path, fmt))

    truth = out_dir / "truth.csv"
    _truth_frame(frames, specs).write_csv(truth)
    return SyntheticSet(tuple(written), truth, as_of)


# --- writing the exports --------------------------------------------------------------------


def _phone_groups(local: pl.Expr) -> pl.Expr:
    """Swedish digit grouping of a subscriber number: 123 45 67, 12 34 56, 123 45."""
    return (
        pl.when(local.str.len_chars() == 7)
        .then(
            pl.format("{} {} {}", local.str.slice(0, 3), local.str.slice(3, 2), local.str.slice(5))
        )
        .when(local.str.len_chars() == 6)
        .then(
            pl.format("{} {} {}", local.str.slice(0, 2), local.str.slice(2, 2), local.str.slice(4))
        )
        .otherwise(pl.format("{} {}", local.str.slice(0, 3), local.str.slice(3)))
    )


def _export_frame(frame: pl.DataFrame, layout: str, as_of: date) -> pl.DataFrame:
    """The company's export: exactly its headers, values in its own formats."""
    pnr = pl.col("pnr")
    area = pl.col("phone").str.split_exact("-", 1).struct.field("field_0")
    local = pl.col("phone").str.split_exact("-", 1).struct.field("field_1")
    types = CONTRACT_TYPE_NAMES[layout]
    ctype = pl.col("ctype").replace_strict(types, return_dtype=pl.String)
    if layout == "linbo":
        born = pnr.str.slice(0, 4).cast(pl.Int32)
        sep = pl.when(as_of.year - born >= 100).then(pl.lit("+")).otherwise(pl.lit("-"))
        columns = [
            pl.col("record_id"),
            pl.col("contract_no"),
            pl.format("{}{}{}", pnr.str.slice(2, 6), sep, pnr.str.slice(8, 4)),
            pl.col("first"),
            pl.col("last"),
            pl.col("street"),
            pl.format("{} {}", pl.col("postal").str.slice(0, 3), pl.col("postal").str.slice(3)),
            pl.col("city"),
            pl.col("apt"),
            ctype,
            pl.col("start").dt.to_string("%Y-%m-%d"),
            pl.col("end").dt.to_string("%Y-%m-%d"),
            pl.format("{}-{}", area, _phone_groups(local)),
            pl.col("email"),
            pl.col("role").replace_strict(ROLE_NAMES["linbo"], return_dtype=pl.String),
            pl.when(pl.col("sublet")).then(pl.lit("Ja")),
            pl.when(pl.col("protected")).then(pl.lit("Ja")),
        ]
    elif layout == "norrhem":
        columns = [
            pl.col("record_id").cast(pl.Int64),
            pnr,
            pl.format("{}, {}", pl.col("last"), pl.col("first")),
            pl.col("street"),
            pl.col("postal"),
            pl.col("city"),
            pl.col("apt"),
            pl.col("contract_no"),
            pl.col("start"),
            pl.col("end"),
            ctype,
            pl.when(area.str.starts_with("07")).then(pl.format("{}{}", area, local)),
            pl.col("email"),
            pl.when(pl.col("protected")).then(pl.lit("J")).otherwise(pl.lit("N")),
        ]
    else:
        columns = [
            pl.col("record_id"),
            pl.format("{}-{}", pnr.str.slice(0, 8), pnr.str.slice(8, 4)),
            pl.col("first"),
            pl.col("last"),
            pl.col("street"),
            pl.col("postal"),
            pl.col("city"),
            pl.col("apt"),
            pl.col("contract_no"),
            pl.col("start").dt.to_string("%d/%m/%Y"),
            pl.col("end").dt.to_string("%d/%m/%Y"),
            ctype,
            pl.format("+46{}{}", area.str.slice(1), local),
            pl.col("email"),
            pl.col("role").replace_strict(ROLE_NAMES["motabo"], return_dtype=pl.String),
            pl.col("sublet").cast(pl.String),
            pl.col("protected").cast(pl.String),
        ]
    headers = LAYOUT_HEADERS[layout]
    return frame.select([expr.alias(name) for expr, name in zip(columns, headers, strict=True)])


def _write_xlsx(
    export: pl.DataFrame, path: Path, as_of: date, progress: Callable[[int], None] | None
) -> None:
    """norrhem's XLSX: ids and codes as text cells, dates as real (numeric, formatted) dates."""
    try:  # the optional extra `synthetic-xlsx`: only this writer needs it
        import xlsxwriter  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise SyntheticError(
            "writing an XLSX register needs xlsxwriter: pip install 'crosscheck[synthetic-xlsx]', "
            "or pass --csv-only"
        ) from None
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    # A fixed creation time keeps the file byte-identical for the same seed.
    workbook.set_properties({"created": datetime(as_of.year, as_of.month, as_of.day)})
    sheet = workbook.add_worksheet(NORRHEM_SHEET)
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    headers = export.columns
    for col, header in enumerate(headers):
        sheet.write_string(0, col, header)
    dates = {"Inflyttning", "Avflyttning"}
    serials = export.with_columns(
        [(pl.col(c) - pl.lit(_EXCEL_EPOCH)).dt.total_days().alias(c) for c in dates]
    )
    kinds = ["number" if h == "ID" else "date" if h in dates else "text" for h in headers]
    row_no = 0
    for offset in range(0, serials.height, _XLSX_CHUNK):
        chunk = serials.slice(offset, _XLSX_CHUNK)
        for values in chunk.iter_rows():
            row_no += 1
            for col, (value, kind) in enumerate(zip(values, kinds, strict=True)):
                if value is None:
                    continue
                if kind == "text":
                    sheet.write_string(row_no, col, value)
                elif kind == "date":
                    sheet.write_number(row_no, col, value, date_format)
                else:
                    sheet.write_number(row_no, col, value)
        if progress is not None:
            progress(chunk.height)
    workbook.close()


def _truth_frame(frames: list[pl.DataFrame], specs: list[CompanySpec]) -> pl.DataFrame:
    parts = [
        frame.filter(pl.col("case").is_not_null()).select(
            pl.format("case-{}", pl.col("case").cast(pl.String).str.zfill(6)).alias("case_id"),
            pl.col("kind"),
            pl.col("subkind"),
            pl.lit(spec.company_id).alias("company"),
            pl.col("record_id"),
            pl.col("expect"),
            pl.col("case").alias("_case"),
            pl.lit(i).alias("_company"),
        )
        for i, (spec, frame) in enumerate(zip(specs, frames, strict=True))
    ]
    return (
        pl.concat(parts)
        .sort(["_case", "_company", "record_id"])
        .drop(["_case", "_company"])
        .select(TRUTH_COLUMNS)
    )
