"""The matching plans of both lanes, built as polars LazyFrames (nothing here collects).

:func:`stack_extracts` puts every company's latest extract into one frame with a global row id
(``rid``, the row's position); :func:`exact_plan` gives the exact lane's hit rows per rule;
the fuzzy lane is :func:`fuzzy_records` -> ``blocking.candidate_pairs`` ->
:func:`fuzzy_pairs_plan` -> Dice by row index (``similarity.dice_pairs``, on arrays the
engine hands in) -> :func:`fuzzy_hits_plan`; :func:`combine_plan` merges both lanes (an exact
hit wins over a fuzzy hit for the same record pair) into :data:`HIT_SCHEMA`.
``matcher.core.matching.find.find_hits`` runs these steps in order.

Every pair joins records of two *different* companies; ``company_a`` sorts before
``company_b``, so each unordered pair appears once per rule. A person with several contracts
yields one hit per record pair, because each contract pair is a separate fact to explain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from contract import FILTER_PREFIX, REF_COLUMN, token_column
from matcher.core.matching.overlap import overlap_columns
from matcher.core.matching.rules import ExactRule, FuzzyRule, RuleSet

__all__ = [
    "HIT_SCHEMA",
    "NATIONAL_ID",
    "combine_plan",
    "exact_plan",
    "filter_names",
    "fuzzy_filter_columns",
    "fuzzy_hits_plan",
    "fuzzy_pairs_plan",
    "fuzzy_records",
    "fuzzy_scores",
    "rule_token_columns",
    "stack_extracts",
]

NATIONAL_ID: Final = token_column("national_id")

HIT_SCHEMA: Final = pl.Schema(
    {
        "rule_id": pl.String,
        "lane": pl.String,
        "band": pl.String,
        "company_a": pl.String,
        "ref_a": pl.String,
        "company_b": pl.String,
        "ref_b": pl.String,
        "overlap_start": pl.Date,
        "overlap_end": pl.Date,
        "overlap_days": pl.Int32,
        "score": pl.Float64,
    }
)

# Columns every pair needs from both sides before any filter is compared.
_PAIR_COLUMNS: Final = (
    "rid",
    "company_idx",
    "company",
    REF_COLUMN,
    NATIONAL_ID,
    "contract_type",
    "contract_start",
    "contract_end",
)


def filter_names(columns: Iterable[str]) -> tuple[str, ...]:
    """Names of the Bloom filters in a records schema (``filter_<name>`` columns)."""
    return tuple(
        sorted(c.removeprefix(FILTER_PREFIX) for c in columns if c.startswith(FILTER_PREFIX))
    )


def stack_extracts(extracts: Mapping[str, pl.LazyFrame], columns: Sequence[str]) -> pl.LazyFrame:
    """All extracts in one frame: ``company``, ``company_idx`` (rank of the id), ``rid``, columns.

    ``columns`` are the records columns the plans need (the caller reads them off the schema:
    ``ref``, the national-id token, contract columns, ``block_*`` and ``filter_*``).
    """
    frames = [
        extracts[company]
        .select(columns)
        .with_columns(
            pl.lit(company, dtype=pl.String).alias("company"),
            pl.lit(index, dtype=pl.UInt16).alias("company_idx"),
        )
        for index, company in enumerate(sorted(extracts))
    ]
    if not frames:
        schema = {"company": pl.String, "company_idx": pl.UInt16}
        return pl.LazyFrame(schema=schema).with_row_index("rid")
    return pl.concat(frames, how="vertical").with_row_index("rid")


def _sides(pairs: pl.LazyFrame, records: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """Attach ``columns`` of both records of each ``(rid_a, rid_b)`` pair as ``x_a`` / ``x_b``."""
    for side in ("a", "b"):
        attrs = records.select(
            pl.col("rid").alias(f"rid_{side}"),
            *(pl.col(c).alias(f"{c}_{side}") for c in columns if c != "rid"),
        )
        pairs = pairs.join(attrs, on=f"rid_{side}", how="inner")
    return pairs


def _hit_rows(
    pairs: pl.LazyFrame, rule_id: str, lane: str, band: pl.Expr, score: pl.Expr
) -> pl.LazyFrame:
    return pairs.select(
        pl.lit(rule_id, dtype=pl.String).alias("rule_id"),
        pl.lit(lane, dtype=pl.String).alias("lane"),
        band.cast(pl.String).alias("band"),
        pl.col("company_a"),
        pl.col(f"{REF_COLUMN}_a").alias("ref_a"),
        pl.col("company_b"),
        pl.col(f"{REF_COLUMN}_b").alias("ref_b"),
        "overlap_start",
        "overlap_end",
        "overlap_days",
        score.cast(pl.Float64).alias("score"),
    )


def _types_and_overlap(
    pairs: pl.LazyFrame, types: frozenset[str], min_days: int, run_date: date
) -> pl.LazyFrame:
    # Contract types first: a string membership test is cheaper than the date arithmetic.
    kinds = sorted(types)
    return (
        pairs.filter(
            pl.col("contract_type_a").is_in(kinds) & pl.col("contract_type_b").is_in(kinds)
        )
        .with_columns(overlap_columns(run_date))
        .filter(pl.col("overlap_days") >= min_days)
    )


def exact_plan(records: pl.LazyFrame, rule: ExactRule, run_date: date) -> pl.LazyFrame:
    """Hits of one exact rule: equal national-id token, different companies, types, overlap."""
    kinds = sorted(rule.contract_types)
    # Filter by type before the join: parking and storage contracts never enter the hash table.
    side = records.filter(
        pl.col(NATIONAL_ID).is_not_null() & pl.col("contract_type").is_in(kinds)
    ).select(_PAIR_COLUMNS)
    pairs = (
        side.rename({c: f"{c}_a" for c in _PAIR_COLUMNS if c != NATIONAL_ID})
        .join(
            side.rename({c: f"{c}_b" for c in _PAIR_COLUMNS if c != NATIONAL_ID}),
            on=NATIONAL_ID,
        )
        .filter(pl.col("company_idx_a") < pl.col("company_idx_b"))
    )
    pairs = _types_and_overlap(pairs, rule.contract_types, rule.min_overlap_days, run_date)
    return _hit_rows(pairs, rule.id, "exact", pl.lit("strong"), pl.lit(None, dtype=pl.Float64))


def fuzzy_pairs_plan(
    records: pl.LazyFrame,
    candidates: pl.LazyFrame,
    rule: FuzzyRule,
    run_date: date,
) -> pl.LazyFrame:
    """Blocked ``candidates`` (``rid_a``, ``rid_b``, ``pass_idx``) one fuzzy rule may score.

    Pairs whose national-id tokens are equal belong to the exact lane and are dropped; pairs
    where either token is missing or they differ are kept. Contract type and overlap filter
    here, before the Dice, which is the expensive step. The caller scores the remaining pairs
    (``matcher.core.matching.similarity.dice_pairs`` on ``rid_a``/``rid_b``) and passes them, with a
    ``score`` column, to :func:`fuzzy_hits_plan`.
    """
    tokens = rule_token_columns(rule)
    pairs = _sides(candidates, records, (*_PAIR_COLUMNS, *tokens)).filter(
        pl.col(f"{NATIONAL_ID}_a").is_null()
        | pl.col(f"{NATIONAL_ID}_b").is_null()
        | (pl.col(f"{NATIONAL_ID}_a") != pl.col(f"{NATIONAL_ID}_b"))
    )
    pairs = _types_and_overlap(pairs, rule.contract_types, rule.min_overlap_days, run_date)
    return pairs.with_columns(_corroboration_bonus(rule).alias("bonus")).drop(
        [f"{column}_{side}" for column in tokens for side in "ab"]
    )


def rule_token_columns(rule: FuzzyRule) -> tuple[str, ...]:
    """The exact-token columns a fuzzy rule reads as corroborating evidence."""
    return tuple(token_column(name) for name in sorted(rule.corroboration))


def _corroboration_bonus(rule: FuzzyRule) -> pl.Expr:
    """The largest bonus among the rule's tokens that are present and equal on both sides."""
    terms = [
        pl.when(
            pl.col(f"{token_column(name)}_a").is_not_null()
            & (pl.col(f"{token_column(name)}_a") == pl.col(f"{token_column(name)}_b"))
        )
        .then(pl.lit(bonus))
        .otherwise(pl.lit(0.0))
        for name, bonus in sorted(rule.corroboration.items())
    ]
    return pl.max_horizontal(terms) if terms else pl.lit(0.0)


def fuzzy_filter_columns(rule: FuzzyRule) -> dict[str, float]:
    """``filter_<name>`` column -> weight for one fuzzy rule, in a stable order.

    Filters that only have a floor appear with weight 0, so the caller computes their Dice too.
    """
    names = sorted({*rule.filters, *rule.floors})
    return {f"{FILTER_PREFIX}{name}": rule.filters.get(name, 0.0) for name in names}


def fuzzy_scores(
    rule: FuzzyRule,
    dice: Mapping[str, npt.NDArray[np.float64]],
    present: Mapping[str, npt.NDArray[np.bool_]],
    bonus: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Score and eligibility of scored candidate pairs under one fuzzy rule.

    ``dice`` and ``present`` map each filter name of the rule (weighted or floored) to the
    pairs' Dice and to whether the filter is present (non-null, not empty) on *both* records.
    Missing evidence is not disagreement: the weights are renormalised over the weighted
    filters present on both records, and a floor applies only where its filter is present on
    both. A pair with no weighted filter present on both is not eligible (there is nothing to
    compare). Returns ``(min(1, weighted Dice + bonus), eligible)``; see :class:`FuzzyRule`.
    """
    size = len(bonus)
    weighted = np.zeros(size, dtype=np.float64)
    total = np.zeros(size, dtype=np.float64)
    eligible = np.ones(size, dtype=np.bool_)
    for name, weight in rule.filters.items():
        both = present[name]
        weighted += np.where(both, weight * dice[name], 0.0)
        total += np.where(both, weight, 0.0)
    for name, floor in rule.floors.items():
        eligible &= ~present[name] | (dice[name] >= floor)
    # Weights are > 0 for at least one filter (they sum to 1), so total > 0 iff any is present;
    # the tolerance keeps a zero-weight filter from counting as evidence.
    has_evidence = total > 1e-12
    eligible &= has_evidence
    base: npt.NDArray[Any] = np.divide(
        weighted, total, out=np.zeros(size, dtype=np.float64), where=has_evidence
    )
    score: npt.NDArray[np.float64] = np.minimum(1.0, base + bonus)
    return score, eligible


def fuzzy_hits_plan(scored: pl.LazyFrame, rule: FuzzyRule) -> pl.LazyFrame:
    """Hit rows of scored pairs: ``score >= min`` is "strong", the review band "review"."""
    low, _ = rule.review_band
    band = pl.when(pl.col("score") >= rule.min).then(pl.lit("strong")).otherwise(pl.lit("review"))
    kept = scored.filter(pl.col("score") >= low)
    return _hit_rows(kept, rule.id, "fuzzy", band, pl.col("score"))


def fuzzy_records(records: pl.LazyFrame, rules: RuleSet) -> pl.LazyFrame:
    """Records any fuzzy rule could flag: blocking never pairs a parking or storage contract."""
    kinds = sorted(set().union(*(rule.contract_types for rule in rules.fuzzy_rules)))
    return records.filter(pl.col("contract_type").is_in(kinds))


def combine_plan(exact: Sequence[pl.LazyFrame], fuzzy: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """All hits, sorted; a fuzzy hit is dropped when an exact hit names the same record pair."""
    pair = ["company_a", "ref_a", "company_b", "ref_b"]
    empty = pl.LazyFrame(schema=HIT_SCHEMA)
    exact_hits = pl.concat([empty, *exact])
    fuzzy_hits = pl.concat([empty, *fuzzy]).join(
        exact_hits.select(pair).unique(), on=pair, how="anti"
    )
    return pl.concat([exact_hits, fuzzy_hits]).sort(["rule_id", *pair])
