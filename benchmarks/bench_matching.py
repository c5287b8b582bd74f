"""Matching speed: a whole run (both lanes) at 3 x 100k and 3 x 1M records, and the Dice kernel.

Run: ``python -m pytest benchmarks/bench_matching.py -o python_files='bench_*.py'
--benchmark-only``. Targets (issue 3): 3 x 1M within 60 s on 2 cores, peak memory < 8 GiB;
the kernel at least as many comparisons/s as anonlink's C++ kernel. Each benchmark stores its
peak RSS and counts in ``extra_info``; the table goes in benchmarks/README.md.
"""

from __future__ import annotations

import resource
import tomllib
from collections.abc import Callable
from datetime import date
from importlib import resources
from typing import Any

import numpy as np
import polars as pl
import pytest

from benchmarks._matching_data import make_extracts
from matcher.core.matching.find import find_hits
from matcher.core.matching.rules import RuleSet, policy_digest, rules_from_policy
from matcher.core.matching.similarity import dice_pairs, filter_matrix, filter_words

RUN = date(2026, 3, 1)


def _rules() -> RuleSet:
    raw = resources.files("policies").joinpath("concurrent-tenancy.toml").read_bytes()
    return rules_from_policy(tomllib.loads(raw.decode("utf-8")), policy_digest(raw))


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


@pytest.mark.parametrize("records", [100_000, 1_000_000], ids=["3x100k", "3x1M"])
def test_find_hits(benchmark: Any, records: int) -> None:
    extracts = {k: v.lazy() for k, v in make_extracts(3, records, seed=20260301).items()}
    rules = _rules()
    hits = benchmark.pedantic(find_hits, args=(extracts, rules, RUN), rounds=1, iterations=1)
    counts = dict(hits.group_by("rule_id").len().iter_rows())
    benchmark.extra_info.update(peak_rss_gib=round(_peak_rss_gib(), 2), hits=counts)
    # Planted: 2 % shared (exact) and 1 % variants (fuzzy) of each later company's records.
    assert counts["concurrent-first-hand"] >= 0.99 * 0.02 * 2 * records
    assert counts["identity-variant"] >= 0.95 * 0.01 * 2 * records


PAIRS = 2_000  # all pairs of 2,000 x 2,000 filters: 4M comparisons per kernel


@pytest.fixture(scope="module")
def filters() -> tuple[pl.Series, pl.Series]:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (PAIRS, 128), dtype=np.uint8)
    b = rng.integers(0, 256, (PAIRS, 128), dtype=np.uint8)
    b[::10] = a[::10]  # some true matches, so anonlink has results to return
    return (
        pl.Series([bytes(r) for r in a], dtype=pl.Binary),
        pl.Series([bytes(r) for r in b], dtype=pl.Binary),
    )


def _all_pairs(filters: tuple[pl.Series, pl.Series]) -> tuple[np.ndarray, np.ndarray]:
    wa, wb = filter_words(filters[0]), filter_words(filters[1])
    ia, ib = np.divmod(np.arange(PAIRS * PAIRS), PAIRS)
    return wa[ia], wb[ib]


def _numpy_dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = np.bitwise_count(a & b).sum(axis=1, dtype=np.uint32)
    total = np.bitwise_count(a).sum(axis=1, dtype=np.uint32) + np.bitwise_count(b).sum(
        axis=1, dtype=np.uint32
    )
    return np.divide(2.0 * both, total, out=np.zeros(len(a)), where=total > 0)


def _rate(benchmark: Any, run: Callable[[], object]) -> None:
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["comparisons_per_s"] = round(PAIRS * PAIRS / benchmark.stats["min"])


def test_kernel_numba(benchmark: Any, filters: tuple[pl.Series, pl.Series]) -> None:
    # As the engine uses it: one matrix of all records, pairs by row index.
    matrix = filter_matrix(pl.concat(filters))
    ia, ib = np.divmod(np.arange(PAIRS * PAIRS, dtype=np.uint32), PAIRS)
    ib += PAIRS
    _rate(benchmark, lambda: dice_pairs(matrix, ia, ib))
    assert (dice_pairs(matrix, ia, ib) == 1.0).sum() == PAIRS // 10


def test_kernel_numpy(benchmark: Any, filters: tuple[pl.Series, pl.Series]) -> None:
    a, b = _all_pairs(filters)
    _rate(benchmark, lambda: _numpy_dice(a, b))
    matrix = filter_matrix(pl.concat(filters))
    rows = np.arange(1000)
    expected = dice_pairs(matrix, rows // 2, rows % 2 + PAIRS)
    a_rows, b_rows = a[(rows // 2) * PAIRS + rows % 2], b[(rows // 2) * PAIRS + rows % 2]
    np.testing.assert_allclose(_numpy_dice(a_rows, b_rows), expected)


def test_kernel_anonlink(benchmark: Any, filters: tuple[pl.Series, pl.Series]) -> None:
    anonlink = pytest.importorskip("anonlink")
    bitarray = pytest.importorskip("bitarray")

    def clks(series: pl.Series) -> list[Any]:
        out = []
        for raw in series.to_list():
            bits = bitarray.bitarray(endian="big")
            bits.frombytes(raw)
            out.append(bits)
        return out

    datasets = [clks(filters[0]), clks(filters[1])]
    run = anonlink.similarities.dice_coefficient_accelerated
    _rate(benchmark, lambda: run(datasets, 0.8))
    scores, _ = run(datasets, 0.8)
    assert len(scores) == PAIRS // 10
