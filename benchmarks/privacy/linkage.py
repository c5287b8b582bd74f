"""Attack 5, linkage across two extracts of one company (the same register a month apart).

For every stable handle (``ref``, each ``token_*``, ``block_*`` and ``filter_*`` column, the
row position, and the first 12 bytes of each ``sealed_*`` value, today the nonce) the attacker
links a record of the first extract to the record of the second holding the same handle value,
when that value is unique in both. Score: share of the records present in both extracts that
are linked to themselves; baseline: a random guess (1 / rows of the second extract).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.privacy.finding import Finding, columns_with
from benchmarks.privacy.packages import Extract
from contract import BLOCK_PREFIX, FILTER_PREFIX, REF_COLUMN, SEALED_PREFIX, TOKEN_PREFIX

__all__ = ["extract_linkage"]

_PREFIX_BYTES = 12


def _link_rate(a: pl.Series, b: pl.Series, ids_a: pl.Series, ids_b: pl.Series) -> float:
    left = pl.DataFrame({"h": a, "id": ids_a}).filter(pl.col("h").is_not_null())
    right = pl.DataFrame({"h": b, "id2": ids_b}).filter(pl.col("h").is_not_null())
    left = left.filter(pl.col("h").is_unique())
    right = right.filter(pl.col("h").is_unique())
    linked = left.join(right, on="h")
    common = len(set(ids_a.to_list()) & set(ids_b.to_list()))
    return float((linked["id"] == linked["id2"]).sum()) / max(1, common)


def extract_linkage(first: Extract, later: Extract) -> list[Finding]:
    ids_a = first.truth_by_row()["record_id"]
    ids_b = later.truth_by_row()["record_id"]
    baseline = 1.0 / max(1, later.records.height)
    handles: list[tuple[str, pl.Series, pl.Series]] = [
        (REF_COLUMN, first.records[REF_COLUMN], later.records[REF_COLUMN])
    ]
    for prefix in (TOKEN_PREFIX, BLOCK_PREFIX, FILTER_PREFIX):
        for column in columns_with(first.records, prefix):
            if column in later.records.columns:
                handles.append((column, first.records[column], later.records[column]))
    handles.append(
        (
            "row position",
            pl.Series(np.arange(first.records.height)),
            pl.Series(np.arange(later.records.height)),
        )
    )
    for column in columns_with(first.records, SEALED_PREFIX):
        if column in later.records.columns:
            handles.append(
                (
                    f"{column}[:{_PREFIX_BYTES}]",
                    first.records[column].bin.slice(0, _PREFIX_BYTES),
                    later.records[column].bin.slice(0, _PREFIX_BYTES),
                )
            )
    findings = [
        Finding("linkage", name, _link_rate(a, b, ids_a, ids_b), baseline, kind="linkage")
        for name, a, b in handles
    ]
    return findings
