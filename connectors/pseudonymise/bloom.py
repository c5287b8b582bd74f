"""Keyed, balanced Bloom filters (CLK-style, field level): their specs, q-grams and hardening.

:data:`FILTER_SPECS` fixes each filter's fields, length and positions per q-gram;
:class:`BloomFilter` computes keyed positions and the balanced, permuted filter of gram sets;
:func:`dice` compares two filters. Why keyed random hashing and balancing, and the bit layout,
are in the package docstring (:mod:`connectors.pseudonymise`).
"""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from connectors.pseudonymise.keys import Hmac, hkdf
from contract import (
    BloomFilterSpec,
)

__all__ = [
    "FILTER_SPECS",
    "POOLED_FILTERS",
    "BloomFilter",
    "dice",
    "qgrams",
]

_HARDENING: Final = "keyed-random-hashing+balanced"

FILTER_SPECS: Final = (
    BloomFilterSpec(
        name="name",
        fields=("first_name_key", "last_name_key"),
        length_bits=1024,
        q=2,
        hashes_per_qgram=15,
        hardening=_HARDENING,
    ),
    BloomFilterSpec(
        name="birth_date",
        fields=("birth_date",),
        length_bits=256,
        q=2,
        hashes_per_qgram=10,
        hardening=_HARDENING,
    ),
    BloomFilterSpec(
        name="address",
        fields=("street_name_key", "street_number", "street_letter", "postal_code"),
        length_bits=1024,
        q=2,
        hashes_per_qgram=10,
        hardening=_HARDENING,
    ),
)
# Fields whose q-grams are pooled without a field tag (so swapped values give the same set).
POOLED_FILTERS: Final = frozenset({"name"})


def _fold(value: str) -> list[str]:
    """Words of a value, diacritics and case folded, punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c if c.isalnum() else " " for c in kept).split()


def qgrams(value: str, q: int, tag: str) -> set[str]:
    grams: set[str] = set()
    for word in _fold(value):
        padded = "_" + word + "_"
        grams.update(tag + padded[i : i + q] for i in range(max(1, len(padded) - q + 1)))
    return grams


_U64 = npt.NDArray[np.uint64]


class BloomFilter:
    """One balanced, keyed Bloom filter column; see the package docstring."""

    def __init__(self, spec: BloomFilterSpec, subkey: bytes) -> None:
        self.spec = spec
        self.base_bits = spec.length_bits // 2
        if self.base_bits & (self.base_bits - 1) or self.base_bits > 65536:
            raise ValueError("the base filter length must be a power of two up to 65536")
        self.words = spec.length_bits // 64
        self._hmac = Hmac(subkey)
        self._cache: dict[str, list[int]] = {}
        permuter = Hmac(hkdf(subkey, b"", "crosscheck/v1/permutation"))
        sort_keys = permuter.many(i.to_bytes(4, "big") for i in range(spec.length_bits))
        # A keyed permutation: stored bit j is balanced bit perm[j].
        self._perm = np.array(sorted(range(spec.length_bits), key=sort_keys.__getitem__))

    def positions(self, gram: str) -> list[int]:
        cached = self._cache.get(gram)
        if cached is None:
            encoded = gram.encode("utf-8")
            k = self.spec.hashes_per_qgram
            cached = []
            for block in range((k + 15) // 16):
                digest = self._hmac.digest(bytes([block]) + encoded)
                cached.extend(p % self.base_bits for p in struct.unpack(">16H", digest))
            cached = self._cache[gram] = cached[:k]
        return cached

    def table(self, gram_sets: Sequence[set[str]]) -> tuple[_U64, _U64]:
        """Per gram set: (permuted base || 0, permuted 0 || complement) as uint64 words.

        Balancing is linear in the components, so a record's stored filter is the OR of its
        fields' first parts OR the AND of their second parts (the complement of a union is
        the intersection of the complements): components are built once per distinct value.
        """
        gram_ids: dict[str, int] = {}
        owners: list[int] = []
        members: list[int] = []
        for row, grams in enumerate(gram_sets):
            for gram in grams:
                members.append(gram_ids.setdefault(gram, len(gram_ids)))
            owners.extend([row] * len(grams))
        spots = np.array([self.positions(g) for g in gram_ids], np.intp).reshape(
            len(gram_ids), self.spec.hashes_per_qgram
        )
        cols = spots[np.array(members, np.intp)].ravel()
        rows = np.repeat(np.array(owners, np.intp), self.spec.hashes_per_qgram)
        m = self.base_bits
        balanced = np.zeros((len(gram_sets), 2 * m), np.bool_)
        balanced[:, m:] = True
        balanced[rows, cols] = True
        balanced[rows, cols + m] = False
        positive = balanced.copy()
        positive[:, m:] = False
        balanced[:, :m] = False
        return self._pack(positive), self._pack(balanced)

    def _pack(self, bits: npt.NDArray[np.bool_]) -> _U64:
        packed = np.packbits(bits[:, self._perm], axis=1, bitorder="big")
        return np.ascontiguousarray(packed).view(np.uint64)


def dice(a: bytes, b: bytes) -> float:
    """Sørensen-Dice coefficient of two equally long filters (for tests and diagnostics)."""
    x = np.frombuffer(a, np.uint8)
    y = np.frombuffer(b, np.uint8)
    both = int(np.bitwise_count(x & y).sum())
    total = int(np.bitwise_count(x).sum() + np.bitwise_count(y).sum())
    return 0.0 if total == 0 else 2 * both / total
