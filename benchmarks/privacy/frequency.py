"""Attack 1, frequency alignment: rank the values of an encoded column by how often they occur,
rank the plaintext values of the public distribution the same way, and guess that the i-th
most frequent encoded value is the i-th most frequent plaintext value.

Run on every ``token_*``, ``block_*`` and ``filter_*`` column (whole filter values), all
companies' packages pooled (the operator holds them all). The public distribution of an
attribute is its distribution in the reference population (same generator, other seed).
Score: share of records whose plaintext the guess names; baseline: share holding the single
most frequent public value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from benchmarks.privacy.finding import Finding, columns_with
from benchmarks.privacy.packages import Extract
from connectors.pseudonymise.blocking import block_material
from contract import BLOCK_PREFIX, FILTER_PREFIX, TOKEN_PREFIX

__all__ = ["attribute", "frequency_alignment"]

_TOKEN_TEXT = {
    "birth_date": pl.col("birth_date").cast(pl.String),
    "email": pl.col("email").str.strip_chars().str.to_lowercase(),
}


def attribute(column: str, filter_fields: dict[str, tuple[str, ...]]) -> pl.Expr | None:
    """The plaintext an encoded column stands for, as an expression over normalised rows."""
    if column.startswith(TOKEN_PREFIX):
        name = column.removeprefix(TOKEN_PREFIX)
        return _TOKEN_TEXT.get(name, pl.col(name).cast(pl.String))
    if column.startswith(BLOCK_PREFIX):
        material = block_material()
        return material.get(column.removeprefix(BLOCK_PREFIX).split("__")[0])
    if column.startswith(FILTER_PREFIX) and column in filter_fields:
        fields = filter_fields[column]
        return pl.concat_str([pl.col(f).cast(pl.String) for f in fields], separator="|")
    return None


def _ranked(values: pl.Series) -> pl.Series:
    counts = values.drop_nulls().value_counts(sort=True, name="n")
    # Ties in count are broken by the value itself: arbitrary, as an attacker's would be.
    return counts.sort(["n", values.name], descending=[True, False])[values.name]


def _align(encoded: pl.Series, truth: pl.Series, public: pl.Series) -> tuple[float, float]:
    present = encoded.is_not_null()
    encoded, truth = encoded.filter(present), truth.filter(present)
    if encoded.len() == 0:
        return 0.0, 0.0
    ranked_enc = _ranked(encoded.rename("v"))
    ranked_pub = _ranked(public.rename("p"))
    size = min(ranked_enc.len(), ranked_pub.len())
    guess = pl.DataFrame({"v": ranked_enc.head(size), "guess": ranked_pub.head(size)})
    scored = pl.DataFrame({"v": encoded, "truth": truth.cast(pl.String)}).join(
        guess, on="v", how="left"
    )
    rate = float((scored["guess"] == scored["truth"]).fill_null(False).mean() or 0.0)
    top = ranked_pub[0] if ranked_pub.len() else None
    baseline = float((scored["truth"] == top).fill_null(False).mean() or 0.0)
    return rate, baseline


def frequency_alignment(
    extracts: Sequence[Extract],
    reference: pl.DataFrame,
    attribute_of: Callable[[str, dict[str, tuple[str, ...]]], pl.Expr | None] = attribute,
) -> list[Finding]:
    first = extracts[0]
    columns = [
        c
        for prefix in (TOKEN_PREFIX, BLOCK_PREFIX, FILTER_PREFIX)
        for c in columns_with(first.records, prefix)
    ]
    findings = []
    for column in columns:
        expr = attribute_of(column, dict(first.filter_fields))
        if expr is None:
            findings.append(Finding("frequency", column, 0.0, 0.0, note="no known plaintext"))
            continue
        encoded = pl.concat([e.records[column] for e in extracts])
        truth = pl.concat([e.truth_by_row().select(expr.alias("t"))["t"] for e in extracts])
        public = reference.select(expr.alias("t"))["t"]
        rate, baseline = _align(encoded, truth, public)
        findings.append(Finding("frequency", column, rate, baseline))
    return findings
