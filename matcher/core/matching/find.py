"""Runs the pure plans of :mod:`matcher.core.matching.plans`: the one place they are collected.

:func:`find_hits` is the only place where the matching plans are collected. It takes the latest
extract of every participant as LazyFrames (e.g. ``pl.scan_parquet`` of the stored blobs) so the
caller decides where data comes from, and returns the hit rows; storing them, keeping hit
identities across runs and marking vanished hits is the store's job.

The stacked records are materialised once, because both lanes and every blocking pass read
them; each lane's plan is then collected on its own so peak memory is one lane's, not both.
Each Bloom-filter column is turned into a word matrix once and candidate pairs are scored by
row index, so filter bytes are never copied per pair.

Filters are salted per blocking pass (contract version 2): a candidate found in pass ``p`` is
scored with the ``filter_<name>__p`` columns. A pair found in several passes keeps its highest
passing score: each pass is an independent encoding of the same values, so the scores differ
only by hash collisions and by the name order of the pass (swapped names align only in the
passes whose key sorts the names); the best one is the encoding that aligns the variant, and
the floors still apply within that pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import polars as pl

from contract import BLOCK_PREFIX, CONTRACT_COLUMNS, FILTER_PREFIX, REF_COLUMN, filter_column
from matcher.core.matching.blocking import DEFAULT_MAX_BLOCK_SIZE, blocking_keys, candidate_pairs
from matcher.core.matching.plans import (
    HIT_SCHEMA,
    NATIONAL_ID,
    combine_plan,
    exact_plan,
    fuzzy_filter_columns,
    fuzzy_hits_plan,
    fuzzy_pairs_plan,
    fuzzy_records,
    fuzzy_scores,
    rule_token_columns,
    stack_extracts,
)
from matcher.core.matching.rules import RuleSet
from matcher.core.matching.similarity import FilterMatrix, dice_pairs, filter_matrix

__all__ = ["HIT_SCHEMA", "ExtractSchemaError", "find_hits"]


class ExtractSchemaError(ValueError):
    """The participants' extracts do not share the columns matching needs (names only)."""


def _matching_columns(extracts: Mapping[str, pl.LazyFrame]) -> list[str]:
    needed = [REF_COLUMN, NATIONAL_ID, "contract_start", "contract_end", "contract_type"]
    common: list[str] | None = None
    for company in sorted(extracts):
        names = extracts[company].collect_schema().names()
        missing = [c for c in needed if c not in names]
        if missing:
            raise ExtractSchemaError(
                f"the extract of company {company} lacks the columns {missing}; "
                f"expected the records.parquet columns of the contract ({sorted(CONTRACT_COLUMNS)})"
            )
        keyed = sorted(c for c in names if c.startswith((BLOCK_PREFIX, FILTER_PREFIX)))
        if common is not None and keyed != common:
            # Unequal key sets mean unequal encodings; the upload check should have refused it.
            raise ExtractSchemaError(
                f"the extract of company {company} has blocking keys and filters {keyed}, "
                f"the others have {common}; all participants must use the same encoding"
            )
        common = keyed
    return [*needed, *(common or [])]


def find_hits(
    extracts: Mapping[str, pl.LazyFrame],
    rules: RuleSet,
    run_date: date,
    *,
    max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
) -> pl.DataFrame:
    """Every hit of every rule over the extracts, keyed by company id.

    Columns (:data:`HIT_SCHEMA`): rule_id, lane ("exact" | "fuzzy"), band ("strong" |
    "review"), company_a, ref_a, company_b, ref_b (company_a < company_b), overlap_start,
    overlap_end (Date), overlap_days (Int32), score (Float64, null for exact). The score stays
    inside the matcher: it is never shown to companies.
    """
    if len(extracts) < 2:
        return pl.DataFrame(schema=HIT_SCHEMA)
    columns = _matching_columns(extracts)
    columns += sorted(
        {c for rule in rules.fuzzy_rules for c in rule_token_columns(rule)} - set(columns)
    )
    cutoff = rules.lookback_cutoff(run_date)
    if cutoff is not None:
        # A contract that ended before the look-back cutoff can only make overlaps that ended
        # before it too: it is left out of the run, never compared (proportionality). Filtered
        # per extract, before the rows are stacked and numbered.
        ended = pl.col("contract_end")
        extracts = {c: f.filter(ended.is_null() | (ended >= cutoff)) for c, f in extracts.items()}
    stacked = stack_extracts(extracts, columns).collect()
    records = stacked.lazy()
    exact = [exact_plan(records, rule, run_date).collect().lazy() for rule in rules.exact_rules]
    fuzzy: list[pl.LazyFrame] = []
    if rules.fuzzy_rules:
        keys = blocking_keys(columns)
        candidates = candidate_pairs(fuzzy_records(records, rules), keys, max_block_size)
        candidates = candidates.collect().lazy()
        matrices: dict[str, FilterMatrix] = {}
        for rule in rules.fuzzy_rules:
            weights = fuzzy_filter_columns(rule)
            names = [c.removeprefix(FILTER_PREFIX) for c in weights]
            wanted = [filter_column(n, key.name) for n in names for key in keys]
            missing = [c for c in wanted if c not in stacked.columns]
            if missing:
                raise ExtractSchemaError(
                    f"rule {rule.id} compares the filters {missing}, which the extracts lack; "
                    "the policy and the connectors' encoding parameters must name the same filters"
                )
            pairs = fuzzy_pairs_plan(records, candidates, rule, run_date).collect()
            rows_a = pairs["rid_a"].to_numpy()
            rows_b = pairs["rid_b"].to_numpy()
            pass_of = pairs["pass_idx"].to_numpy()
            dice = {n: np.zeros(pairs.height, np.float64) for n in names}
            present = {n: np.zeros(pairs.height, np.bool_) for n in names}
            for index, key in enumerate(keys):
                in_pass = np.flatnonzero(pass_of == index)
                if not len(in_pass):
                    continue
                a, b = rows_a[in_pass], rows_b[in_pass]
                for name in names:
                    column = filter_column(name, key.name)
                    if column not in matrices:
                        matrices[column] = filter_matrix(stacked[column])
                    matrix = matrices[column]
                    dice[name][in_pass] = dice_pairs(matrix, a, b)
                    # A null or empty filter has no bits: that record carries no such evidence.
                    present[name][in_pass] = (matrix.counts[a] > 0) & (matrix.counts[b] > 0)
            score, passes = fuzzy_scores(
                rule, dice, present, pairs["bonus"].to_numpy().astype(np.float64)
            )
            scored = (
                pairs.lazy()
                .with_columns(pl.Series("score", score))
                .filter(pl.Series("passes", passes))
                .sort("score", descending=True)
                .unique(subset=["rid_a", "rid_b"], keep="first")
                .drop("pass_idx")
            )
            fuzzy.append(fuzzy_hits_plan(scored, rule).collect().lazy())
    return combine_plan(exact, fuzzy).collect()
