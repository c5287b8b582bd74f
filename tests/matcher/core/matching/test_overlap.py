"""The overlap definition: inclusive days, open-ended contracts run to the run date."""

from __future__ import annotations

from datetime import date

import polars as pl

from matcher.core.matching.overlap import Overlap, overlap, overlap_columns

RUN = date(2026, 3, 1)


def test_one_shared_day_is_an_overlap_of_one_day() -> None:
    got = overlap(date(2025, 1, 1), date(2025, 6, 1), date(2025, 6, 1), None, RUN)
    assert got == Overlap(date(2025, 6, 1), date(2025, 6, 1))
    assert got.days == 1


def test_contracts_that_never_share_a_day_do_not_overlap() -> None:
    assert overlap(date(2025, 1, 1), date(2025, 5, 31), date(2025, 6, 1), None, RUN) is None


def test_open_ended_contracts_run_to_the_run_date() -> None:
    got = overlap(date(2025, 1, 1), None, date(2025, 12, 1), None, RUN)
    assert got == Overlap(date(2025, 12, 1), RUN)
    assert got.days == (RUN - date(2025, 12, 1)).days + 1


def test_a_future_fixed_end_counts_as_written() -> None:
    got = overlap(date(2026, 1, 1), date(2026, 12, 31), date(2025, 1, 1), date(2027, 1, 1), RUN)
    assert got is not None and got.end == date(2026, 12, 31)


def test_polars_columns_agree_with_the_python_definition() -> None:
    rows = [
        (date(2025, 1, 1), date(2025, 6, 1), date(2025, 6, 1), None),
        (date(2025, 1, 1), None, date(2025, 12, 1), None),
        (date(2025, 1, 1), date(2025, 4, 2), date(2025, 1, 1), date(2025, 4, 2)),
        (date(2025, 1, 1), date(2025, 1, 31), date(2025, 3, 1), None),
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "contract_start_a": pl.Date,
            "contract_end_a": pl.Date,
            "contract_start_b": pl.Date,
            "contract_end_b": pl.Date,
        },
        orient="row",
    ).with_columns(overlap_columns(RUN))
    assert frame.schema["overlap_days"] == pl.Int32
    for row, (sa, ea, sb, eb) in zip(frame.iter_rows(named=True), rows, strict=True):
        expected = overlap(sa, ea, sb, eb, RUN)
        if expected is None:
            assert row["overlap_days"] <= 0
        else:
            assert (row["overlap_start"], row["overlap_end"], row["overlap_days"]) == (
                expected.start,
                expected.end,
                expected.days,
            )
    # 2025-01-01 .. 2025-04-02 inclusive is 92 days: exactly the default threshold.
    assert frame["overlap_days"][2] == 92
