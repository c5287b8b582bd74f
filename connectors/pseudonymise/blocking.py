"""Blocking keys: which keys an extract gets, and the plaintext material each is a MAC of.

A blocking key puts two records in the same candidate block when one identity variant (new
surname, misspelt first name, swapped names, a typo in the birth date) still leaves them
equal; the package docstring (:mod:`connectors.pseudonymise`) lists which key catches which.
The encoder MACs the material under each key's subkey; a null material gives no key.
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = [
    "BLOCKING_KEYS",
    "block_material",
    "names_swapped",
]

# Blocking keys in column order; the package docstring says which identity variant each catches.
BLOCKING_KEYS: Final = ("dob_first", "dob_last", "dob_initials", "names_yob")


def _initial(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.slice(0, 1)


def block_material() -> dict[str, pl.Expr]:
    """Each blocking key's plaintext material; null (no key) when an input is missing."""
    dob = pl.col("birth_date").dt.to_string("%Y-%m-%d")
    first, last = _initial("first_name_key"), _initial("last_name_key")
    first3 = pl.col("first_name_key").str.strip_chars().str.slice(0, 3)
    last3 = pl.col("last_name_key").str.strip_chars().str.slice(0, 3)

    def present(expr: pl.Expr) -> pl.Expr:
        return pl.when(expr.str.len_chars() > 0).then(expr)

    first, last = present(first), present(last)
    first3, last3 = present(first3), present(last3)
    low = pl.min_horizontal(first, last)
    high = pl.max_horizontal(first, last)
    low3 = pl.min_horizontal(first3, last3)
    high3 = pl.max_horizontal(first3, last3)
    # min/max_horizontal ignore nulls; the explicit null checks keep a key null instead.
    both = first.is_not_null() & last.is_not_null()
    both3 = first3.is_not_null() & last3.is_not_null()
    return {
        "dob_first": pl.concat_str(dob, pl.lit("|"), first),
        "dob_last": pl.concat_str(dob, pl.lit("|"), last),
        "dob_initials": pl.when(both).then(pl.concat_str(dob, pl.lit("|"), low, high)),
        "names_yob": pl.when(both3).then(
            pl.concat_str(low3, pl.lit("|"), high3, pl.lit("|"), pl.col("birth_date").dt.year())
        ),
    }


def names_swapped(key: str) -> pl.Expr:
    """Whether the name filter of this pass puts the last name in the first name's place.

    A pass's name filter tags the q-grams of its two names ``a:`` and ``b:`` in the order the
    pass's key sorts them (by initial for ``dob_initials``, by 3-letter prefix for
    ``names_yob``; first name first for the others), so swapped first and last names give the
    same filter exactly in the passes that bring them together, without pooling both names
    into one untagged set.
    """
    if key == "dob_initials":
        width = 1
    elif key == "names_yob":
        width = 3
    else:
        return pl.lit(False)
    first = pl.col("first_name_key").str.strip_chars().str.slice(0, width)
    last = pl.col("last_name_key").str.strip_chars().str.slice(0, width)
    return (first > last).fill_null(False)
