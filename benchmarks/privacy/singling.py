"""Attack 6, singling out on the plaintext columns.

Per package: the share of rows whose plain contract columns (every column that is not ``ref``
nor ``token_``/``block_``/``filter_``/``sealed_``) are unique in it, then with each token
column added. A unique row is isolated, not yet named: that needs outside knowledge of a
contract (start day, type). Baseline: 0 for the plain columns alone, and the uniqueness of the
token column alone when one is added (so rate - baseline is what the plain columns add).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from benchmarks.privacy.finding import Finding, columns_with
from benchmarks.privacy.packages import Extract
from contract import BLOCK_PREFIX, FILTER_PREFIX, REF_COLUMN, SEALED_PREFIX, TOKEN_PREFIX

__all__ = ["plain_columns", "singling_out"]


def plain_columns(records: pl.DataFrame) -> list[str]:
    encoded = (TOKEN_PREFIX, BLOCK_PREFIX, FILTER_PREFIX, SEALED_PREFIX)
    return [c for c in records.columns if c != REF_COLUMN and not c.startswith(encoded)]


def _unique_share(records: pl.DataFrame, columns: list[str]) -> float:
    if not columns or records.height == 0:
        return 0.0
    return float(records.select(pl.struct(columns).is_unique().mean()).item())


def singling_out(extracts: Sequence[Extract]) -> list[Finding]:
    plain = plain_columns(extracts[0].records)
    total = sum(e.records.height for e in extracts)

    def pooled(columns: list[str]) -> float:
        return sum(_unique_share(e.records, columns) * e.records.height for e in extracts) / total

    findings = [
        Finding("singling-out", "+".join(plain) or "(none)", pooled(plain), 0.0, "singling")
    ]
    for token in columns_with(extracts[0].records, TOKEN_PREFIX):
        findings.append(
            Finding(
                "singling-out",
                f"plain + {token}",
                pooled([*plain, token]),
                pooled([token]),
                "singling",
            )
        )
    return findings
