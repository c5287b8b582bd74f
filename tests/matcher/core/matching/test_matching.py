"""Both lanes on hand-built extracts: every rule edge an investigator would notice."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from matcher.core.matching.find import find_hits
from matcher.core.matching.plans import HIT_SCHEMA, combine_plan, fuzzy_scores
from matcher.core.matching.rules import ExactRule, FuzzyRule, RuleSet

RUN = date(2026, 3, 1)
KINDS = frozenset({"residential", "student"})
EXACT = ExactRule("concurrent", KINDS, 92)
FUZZY = FuzzyRule("variant", KINDS, 92, {"name": 0.6, "birth_date": 0.4}, 0.8, (0.7, 0.8))
RULES = RuleSet("p", "1", "sha256:00", (EXACT, FUZZY))

FULL = b"\xff" * 8  # 64 bits set


def _name(shared_bits: int) -> bytes:
    """A name filter sharing ``shared_bits`` of FULL's bits: Dice = 2k / (64 + k)."""
    value = (1 << shared_bits) - 1
    return value.to_bytes(8, "little")


def _token(person: int) -> bytes:
    return person.to_bytes(32, "big")


def _record(ref: str, person: int | None, start: date, **extra: Any) -> dict[str, Any]:
    row = {
        "ref": ref,
        "token_national_id": None if person is None else _token(person),
        "contract_start": start,
        "contract_end": None,
        "contract_type": "residential",
        "block_birth_initials": None,
        "filter_name__birth_initials": _name(3),
        "filter_birth_date__birth_initials": _name(5),
    }
    row.update(extra)
    return row


def _frame(*rows: dict[str, Any]) -> pl.LazyFrame:
    schema = {
        "ref": pl.String,
        "token_national_id": pl.Binary,
        "contract_start": pl.Date,
        "contract_end": pl.Date,
        "contract_type": pl.String,
        "block_birth_initials": pl.Binary,
        "filter_name__birth_initials": pl.Binary,
        "filter_birth_date__birth_initials": pl.Binary,
    }
    return pl.LazyFrame(list(rows), schema=schema)


def _pairs(hits: pl.DataFrame) -> set[tuple[str, str, str, str, str]]:
    return {
        (r["rule_id"], r["company_a"], r["ref_a"], r["company_b"], r["ref_b"])
        for r in hits.iter_rows(named=True)
    }


def _two_companies(end_b: date | None, start: date = date(2025, 1, 1)) -> pl.DataFrame:
    return find_hits(
        {
            "norr": _frame(_record("n1", 7, start, contract_end=date(2030, 1, 1))),
            "lin": _frame(_record("l1", 7, date(2025, 1, 1), contract_end=end_b)),
        },
        RULES,
        RUN,
    )


def test_overlap_of_92_days_is_flagged_and_91_is_not() -> None:
    flagged = _two_companies(date(2025, 1, 1) + timedelta(days=91))  # 92 days inclusive
    assert _pairs(flagged) == {("concurrent", "lin", "l1", "norr", "n1")}
    row = flagged.row(0, named=True)
    assert (row["overlap_start"], row["overlap_end"], row["overlap_days"]) == (
        date(2025, 1, 1),
        date(2025, 4, 2),
        92,
    )
    assert row["lane"] == "exact" and row["band"] == "strong" and row["score"] is None
    assert _two_companies(date(2025, 1, 1) + timedelta(days=90)).is_empty()


def test_open_ended_contract_runs_to_the_run_date() -> None:
    hits = _two_companies(None, start=date(2025, 11, 1))
    row = hits.row(0, named=True)
    assert row["overlap_end"] == RUN
    assert row["overlap_days"] == (RUN - date(2025, 11, 1)).days + 1 == 121
    # Starting one day later the ongoing overlap is only 91 days at the run date.
    assert _two_companies(None, start=RUN - timedelta(days=90)).is_empty()


def test_parking_and_storage_contracts_are_never_flagged() -> None:
    hits = find_hits(
        {
            "a": _frame(_record("a1", 1, date(2024, 1, 1), contract_type="parking")),
            "b": _frame(_record("b1", 1, date(2024, 1, 1))),
            "c": _frame(_record("c1", 1, date(2024, 1, 1), contract_type="student")),
        },
        RULES,
        RUN,
    )
    assert _pairs(hits) == {("concurrent", "b", "b1", "c", "c1")}


def test_two_contracts_at_the_same_company_are_never_paired() -> None:
    hits = find_hits(
        {
            "a": _frame(_record("a1", 1, date(2024, 1, 1)), _record("a2", 1, date(2024, 1, 1))),
            "b": _frame(_record("b1", 2, date(2024, 1, 1))),
        },
        RULES,
        RUN,
    )
    assert hits.is_empty()


def test_three_companies_give_every_pair_once_in_company_order() -> None:
    extracts = {
        name: _frame(_record(f"{name}1", 5, date(2024, 1, 1))) for name in ("vasa", "bo", "hem")
    }
    hits = find_hits(extracts, RULES, RUN)
    assert _pairs(hits) == {
        ("concurrent", "bo", "bo1", "hem", "hem1"),
        ("concurrent", "bo", "bo1", "vasa", "vasa1"),
        ("concurrent", "hem", "hem1", "vasa", "vasa1"),
    }


def test_a_person_with_two_contracts_gives_one_hit_per_record_pair() -> None:
    hits = find_hits(
        {
            "a": _frame(_record("a1", 1, date(2024, 1, 1)), _record("a2", 1, date(2024, 6, 1))),
            "b": _frame(_record("b1", 1, date(2024, 1, 1))),
        },
        RULES,
        RUN,
    )
    assert _pairs(hits) == {
        ("concurrent", "a", "a1", "b", "b1"),
        ("concurrent", "a", "a2", "b", "b1"),
    }


def _variant(shared_bits: int, person_b: int | None = 2, **extra: Any) -> pl.DataFrame:
    block = b"k" * 16
    a = _record(
        "a1", 1, date(2024, 1, 1), block_birth_initials=block, filter_name__birth_initials=FULL
    )
    a["filter_birth_date__birth_initials"] = FULL
    b = _record(
        "b1",
        person_b,
        date(2024, 1, 1),
        block_birth_initials=block,
        filter_name__birth_initials=_name(shared_bits),
        filter_birth_date__birth_initials=FULL,
    )
    b.update(extra)
    return find_hits({"a": _frame(a), "b": _frame(b)}, RULES, RUN)


@pytest.mark.parametrize(
    ("shared_bits", "band"),
    [(56, "strong"), (26, "review"), (10, None)],  # scores 0.96, 0.747, 0.562
)
def test_fuzzy_bands_follow_the_rule_thresholds(shared_bits: int, band: str | None) -> None:
    hits = _variant(shared_bits)
    if band is None:
        assert hits.is_empty()
        return
    row = hits.row(0, named=True)
    assert (row["rule_id"], row["lane"], row["band"]) == ("variant", "fuzzy", band)
    dice_name = 2 * shared_bits / (64 + shared_bits)
    assert row["score"] == pytest.approx(0.6 * dice_name + 0.4)


def test_fuzzy_lane_pairs_a_missing_id_but_not_records_without_a_shared_key() -> None:
    assert _variant(56, person_b=None)["band"].to_list() == ["strong"]
    assert _variant(56, block_birth_initials=b"x" * 16).is_empty()


def test_fuzzy_lane_respects_contract_type_and_overlap() -> None:
    assert _variant(56, contract_type="storage").is_empty()
    assert _variant(56, contract_end=date(2024, 3, 31)).is_empty()  # 91 days


def test_equal_ids_are_left_to_the_exact_lane() -> None:
    # Same person, similar filters, shared block: one exact hit, no fuzzy duplicate.
    hits = _variant(56, person_b=1)
    assert _pairs(hits) == {("concurrent", "a", "a1", "b", "b1")}


def test_combine_drops_a_fuzzy_hit_for_a_pair_the_exact_lane_already_has() -> None:
    row = {
        "rule_id": "concurrent",
        "lane": "exact",
        "band": "strong",
        "company_a": "a",
        "ref_a": "a1",
        "company_b": "b",
        "ref_b": "b1",
        "overlap_start": date(2024, 1, 1),
        "overlap_end": RUN,
        "overlap_days": 100,
        "score": None,
    }
    fuzzy = {**row, "rule_id": "variant", "lane": "fuzzy", "score": 0.9}
    other = {**fuzzy, "ref_b": "b2"}
    frame = combine_plan(
        [pl.LazyFrame([row], schema=HIT_SCHEMA)], [pl.LazyFrame([fuzzy, other], schema=HIT_SCHEMA)]
    ).collect()
    assert _pairs(frame) == {
        ("concurrent", "a", "a1", "b", "b1"),
        ("variant", "a", "a1", "b", "b2"),
    }


def test_oversized_blocks_are_skipped() -> None:
    block = b"k" * 16
    rows_a = [
        _record(
            f"a{i}",
            100 + i,
            date(2024, 1, 1),
            block_birth_initials=block,
            filter_name__birth_initials=FULL,
        )
        for i in range(3)
    ]
    rows_b = [
        _record(
            f"b{i}",
            200 + i,
            date(2024, 1, 1),
            block_birth_initials=block,
            filter_name__birth_initials=FULL,
        )
        for i in range(3)
    ]
    extracts = {"a": _frame(*rows_a), "b": _frame(*rows_b)}
    assert len(find_hits(extracts, RULES, RUN)) == 9
    assert find_hits(extracts, RULES, RUN, max_block_size=5).is_empty()


def test_output_has_the_documented_schema_even_when_empty() -> None:
    assert find_hits({"a": _frame()}, RULES, RUN).schema == HIT_SCHEMA
    assert find_hits({"a": _frame(), "b": _frame()}, RULES, RUN).schema == HIT_SCHEMA
    assert _two_companies(None).schema == HIT_SCHEMA


GUARDED = FuzzyRule(
    "variant",
    KINDS,
    92,
    {"name": 0.6, "birth_date": 0.4},
    0.9,
    (0.85, 0.9),
    floors={"birth_date": 0.95},
    corroboration={"phone": 0.15},
)


def _guarded(
    name_bits: int, dob_bits: int, phones: tuple[bytes | None, bytes | None]
) -> pl.DataFrame:
    block = b"k" * 16
    rows = []
    for ref, person, name, phone in (
        ("a1", 1, FULL, phones[0]),
        ("b1", 2, _name(name_bits), phones[1]),
    ):
        row = _record(
            ref,
            person,
            date(2024, 1, 1),
            block_birth_initials=block,
            filter_name__birth_initials=name,
        )
        row["filter_birth_date__birth_initials"] = FULL if ref == "a1" else _name(dob_bits)
        row["token_phone"] = phone
        rows.append(row)
    frames = {
        company: pl.LazyFrame([row], schema={**_frame().collect_schema(), "token_phone": pl.Binary})
        for company, row in zip(("a", "b"), rows, strict=True)
    }
    return find_hits(frames, RuleSet("p", "1", "sha256:00", (GUARDED,)), RUN)


def test_a_namesake_with_another_birth_date_is_never_a_hit() -> None:
    # Identical names, birth-date Dice 2*50/114 = 0.88 < floor 0.95: two people, not one.
    assert _guarded(64, 50, (None, None)).is_empty()
    assert _guarded(64, 64, (None, None))["band"].to_list() == ["strong"]


def test_an_equal_phone_token_corroborates_a_changed_surname() -> None:
    # Name Dice 2*30/94 = 0.64 -> 0.78 alone: no hit; with the same phone token +0.15 = 0.93.
    phone = b"p" * 32
    assert _guarded(30, 64, (phone, b"q" * 32)).is_empty()
    assert _guarded(30, 64, (None, None)).is_empty()
    hit = _guarded(30, 64, (phone, phone)).row(0, named=True)
    assert hit["band"] == "strong"
    assert hit["score"] == pytest.approx(0.6 * 60 / 94 + 0.4 + 0.15)


# --- missing evidence is not disagreement ----------------------------------------------------


def test_a_missing_birth_date_leaves_the_name_to_decide() -> None:
    # Name Dice 2*56/120 = 0.933. Scored as Dice 0, the missing birth date would cap the score
    # at 0.6 * 0.933 = 0.56 (no hit); renormalised over the name alone it is 0.933 (strong).
    row = _variant(56, filter_birth_date__birth_initials=None).row(0, named=True)
    assert row["band"] == "strong"
    assert row["score"] == pytest.approx(2 * 56 / 120)
    # Present on both, the same name with a different birth date still scores on both filters.
    hit = _variant(56, filter_birth_date__birth_initials=_name(20)).row(0, named=True)
    assert hit["score"] == pytest.approx(0.6 * 2 * 56 / 120 + 0.4 * 2 * 20 / 84)


def test_a_pair_without_any_weighted_evidence_is_never_a_hit() -> None:
    assert _variant(
        56, filter_name__birth_initials=None, filter_birth_date__birth_initials=None
    ).is_empty()
    # An empty filter (no bits) is as absent as a null one.
    assert _variant(
        56, filter_name__birth_initials=bytes(8), filter_birth_date__birth_initials=None
    ).is_empty()


def test_scores_renormalise_over_filters_present_on_both_and_floors_need_both() -> None:
    dice = {"name": np.array([0.9, 0.9, 0.9, 0.9]), "birth_date": np.array([1.0, 0.5, 0.5, 0.0])}
    present = {
        "name": np.array([True, True, True, False]),
        "birth_date": np.array([True, True, False, False]),
    }
    score, eligible = fuzzy_scores(GUARDED, dice, present, np.array([0.0, 0.0, 0.05, 0.0]))
    # Both filters; birth date below its floor; birth date missing (floor skipped, weights
    # renormalised to the name, bonus added); nothing to compare.
    assert score[:3] == pytest.approx([0.6 * 0.9 + 0.4, 0.6 * 0.9 + 0.4 * 0.5, 0.9 + 0.05])
    assert eligible.tolist() == [True, False, True, False]
    # The cap at 1 still holds after renormalisation.
    capped, _ = fuzzy_scores(GUARDED, dice, present, np.array([0.0, 0.0, 0.5, 0.0]))
    assert capped[2] == 1.0


def test_a_pair_is_scored_with_the_filters_of_the_pass_that_found_it() -> None:
    # Two passes; the pair shares only the key of pass "two", whose filters are equal. Pass
    # "one"'s filters are unrelated (another block's salt) and must not be used; when both
    # passes find the pair, the better pass's score counts.
    def extract(ref: str, person: int, key_one: bytes, name_one: bytes) -> pl.LazyFrame:
        row = _record(ref, person, date(2024, 1, 1), block_birth_initials=key_one)
        row["filter_name__birth_initials"] = name_one
        row["filter_birth_date__birth_initials"] = FULL
        row.update(block_two=b"t" * 16, filter_name__two=FULL, filter_birth_date__two=FULL)
        schema = {**_frame().collect_schema(), "block_two": pl.Binary}
        schema |= {"filter_name__two": pl.Binary, "filter_birth_date__two": pl.Binary}
        return pl.LazyFrame([row], schema=schema)

    only_two = find_hits(
        {"a": extract("a1", 1, b"k" * 16, FULL), "b": extract("b1", 2, b"x" * 16, _name(3))},
        RULES,
        RUN,
    )
    assert only_two["score"].to_list() == [pytest.approx(1.0)]
    both = find_hits(
        {"a": extract("a1", 1, b"k" * 16, FULL), "b": extract("b1", 2, b"k" * 16, _name(3))},
        RULES,
        RUN,
    )
    assert both.height == 1 and both["score"].to_list() == [pytest.approx(1.0)]


def test_overlaps_ended_before_the_look_back_are_never_matched() -> None:
    # The policy's max_lookback_days (issue 13): a run on 2026-03-01 with three years looks
    # back to 2023-03-02. Person 7's overlap ended in 2024: a hit. Person 8's ended in 2022:
    # both contracts are left out of the run, in both lanes.
    rules = RuleSet("p", "1", "sha256:00", (EXACT, FUZZY), max_lookback_days=1095)
    assert rules.lookback_cutoff(RUN) == date(2023, 3, 2)
    ended_2024 = {"contract_end": date(2024, 6, 30)}
    ended_2022 = {"contract_end": date(2022, 6, 30)}
    hits = find_hits(
        {
            "lin": _frame(
                _record("l7", 7, date(2020, 1, 1), **ended_2024),
                _record("l8", 8, date(2018, 1, 1), **ended_2022),
            ),
            "norr": _frame(
                _record("n7", 7, date(2021, 1, 1), **ended_2024),
                _record("n8", 8, date(2019, 1, 1), **ended_2022),
            ),
        },
        rules,
        RUN,
    )
    assert _pairs(hits) == {("concurrent", "lin", "l7", "norr", "n7")}
    # without the limit the old overlap is found too (what the limit takes away)
    unlimited = find_hits(
        {
            "lin": _frame(_record("l8", 8, date(2018, 1, 1), **ended_2022)),
            "norr": _frame(_record("n8", 8, date(2019, 1, 1), **ended_2022)),
        },
        RULES,
        RUN,
    )
    assert _pairs(unlimited) == {("concurrent", "lin", "l8", "norr", "n8")}
