"""Sørensen-Dice on keyed Bloom filters, checked against a plain Python definition."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from matcher.core.matching.similarity import dice_pairs, filter_matrix, filter_words


def _reference(a: bytes, b: bytes) -> float:
    ones_a = sum(bin(x).count("1") for x in a)
    ones_b = sum(bin(x).count("1") for x in b)
    both = sum(bin(x & y).count("1") for x, y in zip(a, b, strict=True))
    return 2 * both / (ones_a + ones_b) if ones_a + ones_b else 0.0


def _filters(seed: int, n: int, length: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(length) for _ in range(n)]


def test_kernel_matches_the_definition_on_random_filters() -> None:
    a, b = _filters(1, 200, 128), _filters(2, 200, 128)
    # Half the pairs near-duplicates so both high and chance-level scores are exercised.
    b[:100] = [bytes(x ^ (1 if i % 9 == 0 else 0) for i, x in enumerate(f)) for f in a[:100]]
    matrix = filter_matrix(pl.Series(a + b, dtype=pl.Binary))
    rows = np.arange(200)
    got = dice_pairs(matrix, rows, rows + 200)
    expected = np.array([_reference(x, y) for x, y in zip(a, b, strict=True)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[:100].min() > 0.95 > 0.6 > got[100:].max()


def test_identical_filters_score_one_and_disjoint_score_zero() -> None:
    ones, zeros = b"\xff" * 8, b"\x00" * 8
    matrix = filter_matrix(pl.Series([ones, zeros, None, ones], dtype=pl.Binary))
    scores = dice_pairs(matrix, np.array([0, 0, 1, 2]), np.array([3, 1, 1, 0]))
    # Two empty filters carry no evidence; a missing filter matches nothing.
    assert scores.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_pair_index_outside_the_matrix_is_refused() -> None:
    matrix = filter_matrix(pl.Series([b"\x01" * 8, b"\x02" * 8], dtype=pl.Binary))
    with pytest.raises(IndexError):
        dice_pairs(matrix, np.array([0]), np.array([2]))


def test_filters_of_unequal_length_are_refused() -> None:
    with pytest.raises(ValueError, match="must all be 16 bytes"):
        filter_words(pl.Series([b"\x00" * 16, b"\x00" * 8]), 16)
