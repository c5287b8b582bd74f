"""What the attacker knows without any package: the public name frequency lists.

Built from :mod:`synthetic.namelists` with the very weights :mod:`synthetic.people` draws from
(first names half female, half male; surnames the listed ones plus the ornamental tail), so the
attacker knows the distribution exactly: the strongest case. Also the public q-gram rule of the
encoding (fold, pad with ``_``, bigrams; its parameters are in every manifest).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np

from synthetic.namelists import (
    FEMALE_FIRST_NAMES,
    MALE_FIRST_NAMES,
    ORNAMENTAL_PARTS,
    ORNAMENTAL_SHARE,
    SURNAMES,
)

__all__ = ["NameList", "bigrams", "first_names", "fold", "surnames"]


def fold(value: str) -> str:
    """A name's key as the connector folds it: case and diacritics folded, punctuation a space."""
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in kept).split())


def bigrams(key: str, q: int = 2) -> frozenset[str]:
    """The q-grams of a folded value, each word padded with ``_`` (the published rule)."""
    grams: set[str] = set()
    for word in key.split():
        padded = "_" + word + "_"
        grams.update(padded[i : i + q] for i in range(max(1, len(padded) - q + 1)))
    return frozenset(grams)


@dataclass(frozen=True)
class NameList:
    """Names (display form, as a register holds them), their keys and probabilities."""

    display: tuple[str, ...]
    keys: tuple[str, ...]
    probability: np.ndarray  # sums to 1, sorted descending

    @property
    def byte_lengths(self) -> np.ndarray:
        return np.array([len(name.encode("utf-8")) for name in self.display])

    def most_frequent_key(self) -> str:
        return self.keys[0]


def _sorted(names: list[str], weights: np.ndarray) -> NameList:
    # Names that fold to the same key are one key for the attacker; keep the display of the
    # heavier one and add the weights.
    merged: dict[str, tuple[str, float]] = {}
    for name, weight in zip(names, weights, strict=True):
        key = fold(name)
        display, total = merged.get(key, (name, 0.0))
        merged[key] = (display, total + float(weight))
    items = sorted(merged.items(), key=lambda kv: -kv[1][1])
    probability = np.array([w for _, (_, w) in items])
    return NameList(
        tuple(d for _, (d, _) in items),
        tuple(k for k, _ in items),
        probability / probability.sum(),
    )


@cache
def first_names() -> NameList:
    female = np.array([w for _, w in FEMALE_FIRST_NAMES], float)
    male = np.array([w for _, w in MALE_FIRST_NAMES], float)
    names = [n for n, _ in FEMALE_FIRST_NAMES] + [n for n, _ in MALE_FIRST_NAMES]
    return _sorted(names, np.concatenate([female / female.sum(), male / male.sum()]) / 2)


@cache
def surnames() -> NameList:
    base = [n for n, _ in SURNAMES]
    known = {n.lower() for n in base}
    tail = [
        a + b
        for a in ORNAMENTAL_PARTS[0]
        for b in ORNAMENTAL_PARTS[1]
        if (a + b).lower() not in known and a.lower() != b
    ]
    # The generator's fixed tail order and Zipf-like weights (public: it is our own list).
    tail = [tail[i] for i in np.random.default_rng(0).permutation(len(tail))]
    tail_w = 1.0 / (np.arange(len(tail)) + 200.0)
    listed = np.array([w for _, w in SURNAMES], float)
    weights = np.concatenate(
        [listed / listed.sum() * (1 - ORNAMENTAL_SHARE), tail_w / tail_w.sum() * ORNAMENTAL_SHARE]
    )
    return _sorted(base + tail, weights)
