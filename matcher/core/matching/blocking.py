"""Candidate pairs for the fuzzy lane: the union of several keyed blocking passes.

Comparing every record of one company with every record of another is 10^12 Dice computations
at 1M records each; blocking only compares records that share at least one keyed blocking key
(``block_<name>`` columns, e.g. birth date + initials, or a phonetic surname + birth year), the
way Splink unions its blocking rules. The keys are HMAC outputs made by the connectors, so the
matcher can group by them without learning what they encode.

Keys shared by more than ``max_block_size`` records (all companies together) are skipped: such a
key carries no identifying power (a degenerate value, e.g. an empty name) and its pairs grow with
the square of its size, which would let one bad key exhaust memory. The other passes still
compare those records.

Contract version 2 salts every Bloom filter per pass and block (``filter_<name>__<pass>``), so a
pair is only comparable in a pass that found it: each candidate carries the index of its pass
(``pass_idx``), and a pair found in several passes appears once per pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from contract import BLOCK_PREFIX

__all__ = ["DEFAULT_MAX_BLOCK_SIZE", "BlockingKey", "blocking_keys", "candidate_pairs"]

DEFAULT_MAX_BLOCK_SIZE: Final = 2_000


@dataclass(frozen=True)
class BlockingKey:
    """One keyed blocking pass, read from the ``block_<name>`` column."""

    name: str

    @property
    def column(self) -> str:
        return f"{BLOCK_PREFIX}{self.name}"


def blocking_keys(columns: Iterable[str]) -> tuple[BlockingKey, ...]:
    """The blocking keys present in a records schema, discovered by the ``block_`` prefix."""
    return tuple(
        BlockingKey(c.removeprefix(BLOCK_PREFIX))
        for c in sorted(columns)
        if c.startswith(BLOCK_PREFIX)
    )


def candidate_pairs(
    records: pl.LazyFrame,
    keys: Sequence[BlockingKey],
    max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
) -> pl.LazyFrame:
    """Pairs ``(rid_a, rid_b, pass_idx)`` of records at two companies sharing the key of pass
    ``keys[pass_idx]``; a pair appears once per pass that finds it.

    ``records`` holds ``rid`` (UInt32, unique) and ``company_idx`` (ranks the company ids
    lexicographically) plus the key columns; ``rid_a`` is always the record of the company that
    sorts first, so each unordered pair appears once. Null keys never match.
    """
    passes = []
    for index, key in enumerate(keys):
        side = (
            records.select("rid", "company_idx", pl.col(key.column).alias("key"))
            .filter(pl.col("key").is_not_null())
            .filter(pl.len().over("key") <= max_block_size)
        )
        passes.append(
            side.join(side, on="key", suffix="_b")
            .filter(pl.col("company_idx") < pl.col("company_idx_b"))
            .select(
                pl.col("rid").alias("rid_a"),
                pl.col("rid_b"),
                pl.lit(index, dtype=pl.UInt8).alias("pass_idx"),
            )
        )
    if not passes:
        return pl.LazyFrame(schema={"rid_a": pl.UInt32, "rid_b": pl.UInt32, "pass_idx": pl.UInt8})
    return pl.concat(passes)
