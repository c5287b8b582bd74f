"""What an extract's records.parquet really holds: rows and decoded bytes, measured bounded.

The row count in a Parquet footer (and in the manifest) is whatever the writer put there, and a
file of a few MB can decode to many GB: 20 million identical rows compress to almost nothing.
:func:`measure_records` therefore first refuses what the footer itself admits (too many rows,
or column chunks whose uncompressed pages exceed the byte limit), then decodes the file one
bounded batch at a time (``ParquetFile.iter_batches``), counting real rows and the bytes of the
decoded Arrow buffers, and stops at the first batch that breaks a limit. At most one batch is
held in memory, so measuring a hostile file costs a few MB whatever it claims.

Pseudonymised columns (tokens, filters, ciphertexts) are random bytes and do not compress: a
genuine package decodes to about its own size (ratio near 1; dates and contract types compress,
but they are a small part of a row). A ratio far beyond that is a decompression bomb. Upload
intake and ``matcher run`` call the same function with the same limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from matcher.errors import BadParquet, CompressionBomb, ExtractTooLarge

__all__ = ["BATCH_ROWS", "ExtractLimits", "RecordsSize", "measure_records"]

BATCH_ROWS = 16_384  # ~40 MB decoded for the widest genuine rows; one batch at a time
_RATIO_FLOOR_BYTES = 1024 * 1024  # tiny files: the footer and page headers dominate the ratio


@dataclass(frozen=True)
class ExtractLimits:
    """One company's bounds on an extract (``Settings.extract_limits``)."""

    max_rows: int
    max_bytes: int  # decoded (Arrow) size of all columns
    max_ratio: float  # decoded size / file size


@dataclass(frozen=True)
class RecordsSize:
    rows: int
    decoded_bytes: int
    file_bytes: int


def _too_many_rows(rows: int, limits: ExtractLimits, company: str) -> ExtractTooLarge:
    return ExtractTooLarge(
        f"records.parquet holds {rows} rows or more; the limit for company {company} is "
        f"{limits.max_rows} rows (max_extract_rows); ask the operator to raise the limit if "
        "the register really is that large"
    )


def _too_many_bytes(size: int, limits: ExtractLimits, company: str) -> ExtractTooLarge:
    return ExtractTooLarge(
        f"records.parquet decodes to {size} bytes or more; the limit for company {company} is "
        f"{limits.max_bytes} bytes decoded (max_extract_bytes). Ask the operator to raise the "
        "limit if the register really is that large"
    )


def _bomb(decoded: int, file_bytes: int, limits: ExtractLimits) -> CompressionBomb:
    return CompressionBomb(
        f"records.parquet ({file_bytes} bytes) decodes to {decoded} bytes or more, a ratio "
        f"over {limits.max_ratio:g}; pseudonymised data does not compress like that "
        "(max_extract_compression_ratio). Package the extract again with `connector pseudonymise`"
    )


def _ratio_limit(file_bytes: int, limits: ExtractLimits) -> float:
    return limits.max_ratio * max(file_bytes, _RATIO_FLOOR_BYTES)


def _check_footer(
    metadata: pq.FileMetaData, file_bytes: int, limits: ExtractLimits, company: str
) -> None:
    if metadata.num_rows > limits.max_rows:
        raise _too_many_rows(metadata.num_rows, limits, company)
    uncompressed = 0
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            uncompressed += max(0, row_group.column(column).total_uncompressed_size)
    if uncompressed > limits.max_bytes:
        raise _too_many_bytes(uncompressed, limits, company)
    if uncompressed > _ratio_limit(file_bytes, limits):
        raise _bomb(uncompressed, file_bytes, limits)


def measure_records(
    path: Path, limits: ExtractLimits, company: str, columns: list[str] | None = None
) -> RecordsSize:
    """Real rows and decoded bytes of ``path``; raises at the first limit it breaks.

    ``columns``: decode only these (``matcher run`` skips the sealed ones it never reads);
    the row and ratio limits still apply to what is decoded."""
    file_bytes = path.stat().st_size
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise BadParquet(
            "records.parquet can not be read as Parquet; package the extract again"
        ) from exc
    with parquet:
        _check_footer(parquet.metadata, file_bytes, limits, company)
        rows = decoded = 0
        bomb_at = _ratio_limit(file_bytes, limits)
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                rows += batch.num_rows
                decoded += batch.nbytes
                if rows > limits.max_rows:
                    raise _too_many_rows(rows, limits, company)
                if decoded > limits.max_bytes:
                    raise _too_many_bytes(decoded, limits, company)
                if decoded > bomb_at:
                    raise _bomb(decoded, file_bytes, limits)
        except (OSError, pa.ArrowException) as exc:
            raise BadParquet(
                "records.parquet can not be decoded (a damaged page or column); package the "
                "extract again"
            ) from exc
    return RecordsSize(rows, decoded, file_bytes)
