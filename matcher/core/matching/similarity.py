"""Sørensen-Dice similarity of keyed Bloom filters, the fuzzy lane's comparison.

``Dice(A, B) = 2 |A ∩ B| / (|A| + |B|)`` over the set bits of two equally long filters; two
empty filters score 0 (no evidence is not a match). A record without a filter (null) scores 0
against everything.

The engine materialises each filter column of the stacked records once (:func:`filter_matrix`)
and scores candidate pairs by row index (:func:`dice_pairs`), so no filter bytes are copied
into the pair frame. Kernel choice, measured (benchmarks/bench_matching.py, 1024-bit filters,
4M pairs, 2 shared cores): the numba loop below beats numpy's ``bitwise_count`` on uint64
views by an order of magnitude (numpy allocates the AND and popcount arrays per batch) and is
on par with anonlink's C++ all-pairs kernel; numbers in benchmarks/README.md. numba is kept;
it compiles on first use (about a second per process), never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["FilterMatrix", "dice_pairs", "filter_matrix", "filter_words"]

Words = npt.NDArray[np.uint64]


@numba.njit(inline="always")
def _popcount(x: np.uint64) -> np.uint64:
    # SWAR popcount; LLVM turns this exact pattern into the POPCNT instruction.
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(parallel=True, nogil=True)
def _dice_indexed(words: Any, counts: Any, ia: Any, ib: Any) -> Any:
    n = ia.shape[0]
    k = words.shape[1]
    out = np.empty(n, np.float64)
    for i in numba.prange(n):
        a = ia[i]
        b = ib[i]
        both = np.uint64(0)
        for j in range(k):
            both += _popcount(words[a, j] & words[b, j])
        total = counts[a] + counts[b]
        out[i] = 2.0 * both / total if total > 0 else 0.0
    return out


@dataclass(frozen=True)
class FilterMatrix:
    """One Bloom-filter column of the stacked records as uint64 words, with per-row bit counts.

    Counting each record's bits once, instead of once per pair, leaves one popcount per word
    in the pair loop; pairs index rows, so a record compared many times stays in cache.
    """

    words: Words
    counts: npt.NDArray[np.uint64]


def filter_matrix(series: pl.Series, length_bytes: int | None = None) -> FilterMatrix:
    """The :class:`FilterMatrix` of a Binary filter column (nulls become empty filters)."""
    words = filter_words(series, length_bytes)
    counts = np.bitwise_count(words).sum(axis=1, dtype=np.uint64)
    return FilterMatrix(words, counts)


def dice_pairs(
    matrix: FilterMatrix, rows_a: npt.NDArray[np.integer[Any]], rows_b: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.float64]:
    """Dice of row ``rows_a[i]`` against row ``rows_b[i]`` of ``matrix``, for every i."""
    if rows_a.shape != rows_b.shape:
        raise ValueError(f"pair index arrays differ in shape: {rows_a.shape} and {rows_b.shape}")
    if len(rows_a) == 0:
        return np.zeros(0, dtype=np.float64)
    if rows_a.dtype.kind not in "iu" or rows_b.dtype.kind not in "iu":
        raise TypeError("pair indices must be integer arrays")
    limit = len(matrix.counts)
    # numba does not bounds-check; a bad index would read another record's filter silently.
    low = 0 if rows_a.dtype.kind == rows_b.dtype.kind == "u" else min(rows_a.min(), rows_b.min())
    if low < 0 or max(rows_a.max(), rows_b.max()) >= limit:
        raise IndexError(f"pair index outside the {limit} filter rows")
    # Indices keep their dtype (the engine's row ids are UInt32): no copy, half the bandwidth.
    result: npt.NDArray[np.float64] = _dice_indexed(
        matrix.words, matrix.counts, np.ascontiguousarray(rows_a), np.ascontiguousarray(rows_b)
    )
    return result


def filter_words(series: pl.Series, length_bytes: int | None = None) -> Words:
    """A Binary column of equally long filters as an ``(n, words)`` uint64 matrix.

    Null filters become all-zero rows (they score 0). The length is taken from the data unless
    given; filters are multiples of 64 bits by the contract (``BloomFilterSpec.length_bits``).
    """
    if length_bytes is None:
        length_bytes = int(series.bin.size().max() or 8)  # type: ignore[arg-type]
    if length_bytes % 8:
        raise ValueError(f"filter length {length_bytes} bytes is not a multiple of 8 bytes")
    sizes = series.drop_nulls().bin.size()
    if len(sizes) and (sizes.min() != length_bytes or sizes.max() != length_bytes):
        raise ValueError(f"filters of one column must all be {length_bytes} bytes long")
    words = series.fill_null(bytes(length_bytes)).bin.reinterpret(
        dtype=pl.Array(pl.UInt64, length_bytes // 8)
    )
    matrix: Words = np.ascontiguousarray(words.to_numpy())
    return matrix.reshape(len(series), length_bytes // 8)
