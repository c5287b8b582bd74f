"""The overlap condition shared by both lanes: how long two tenancy contracts ran concurrently.

Definition (used by every rule, documented for investigators and auditors):

* a contract runs from ``contract_start`` to ``contract_end`` inclusive; an open-ended contract
  (``contract_end`` null) runs to the run date;
* the overlap of two contracts is ``[max(start_a, start_b), min(end_a, end_b)]`` and its length
  ``overlap_days = (overlap_end - overlap_start).days + 1`` counts both end days (two contracts
  that share exactly one day overlap by 1 day); a negative or zero length means no overlap;
* a rule flags the pair only when ``overlap_days >= min_overlap_days`` (default 92: a
  three-month notice period is a legitimate overlap when moving).

Ends that lie after the run date are taken as written: a signed fixed-term contract counts for
its whole term. Only a missing end is replaced, because "ongoing" has no date of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

__all__ = ["Overlap", "overlap", "overlap_columns", "side_column"]


@dataclass(frozen=True)
class Overlap:
    """The period two contracts ran concurrently, both ends inclusive."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def overlap(
    start_a: date, end_a: date | None, start_b: date, end_b: date | None, run_date: date
) -> Overlap | None:
    """The overlap of two contracts, or None when they never ran on the same day."""
    start = max(start_a, start_b)
    end = min(end_a or run_date, end_b or run_date)
    return Overlap(start, end) if end >= start else None


def side_column(name: str, side: str) -> str:
    """Column name of ``name`` for one side of a pair: ``x_a`` / ``x_b``."""
    return f"{name}_{side}"


def overlap_columns(run_date: date) -> list[pl.Expr]:
    """``overlap_start``, ``overlap_end`` (Date) and ``overlap_days`` (Int32) of a pair frame.

    The frame holds ``contract_start_a``, ``contract_end_a``, ``contract_start_b`` and
    ``contract_end_b``. Same definition as :func:`overlap`; non-overlapping pairs get a
    ``overlap_days`` <= 0, which every rule filters out.
    """
    run = pl.lit(run_date, dtype=pl.Date)
    start = pl.max_horizontal(pl.col("contract_start_a"), pl.col("contract_start_b"))
    end = pl.min_horizontal(
        pl.col("contract_end_a").fill_null(run), pl.col("contract_end_b").fill_null(run)
    )
    days = ((end - start).dt.total_days() + 1).cast(pl.Int32)
    return [start.alias("overlap_start"), end.alias("overlap_end"), days.alias("overlap_days")]
