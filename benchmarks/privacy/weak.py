"""A deliberately weak encoding, for proving that the harness can fail.

:func:`weaken` rewrites the attacker's material of a :class:`Setting` as a naive encoder would
have made it: the name filter an unbalanced, unkeyed CLK (positions from SHA-256 of the bigram,
no complement half, no permutation) of first and last name, and the sealed first and last
names exactly as long as the plaintext plus AES-GCM's 28 bytes (random bytes stand in for the
ciphertext). Every other column stays as the real connector wrote it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import numpy as np
import polars as pl

from benchmarks.privacy.packages import Extract, Setting
from benchmarks.privacy.public import bigrams, fold
from contract import FILTER_PREFIX

__all__ = ["weaken"]

_BITS = 512
_K = 15
_OVERHEAD = 28  # nonce (12) + tag (16)


def _positions(gram: str) -> list[int]:
    digest = hashlib.sha256(gram.encode("utf-8")).digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") % _BITS for i in range(_K)]


def _clk(first: str | None, last: str | None) -> bytes | None:
    grams = bigrams(fold(first or "")) | bigrams(fold(last or ""))
    if not grams:
        return None
    bits = np.zeros(_BITS, bool)
    for gram in grams:
        bits[_positions(gram)] = True
    return np.packbits(bits, bitorder="big").tobytes()


def _weak_extract(extract: Extract) -> Extract:
    truth = extract.truth_by_row()
    names = [
        c for c, f in extract.filter_fields.items() if {"first_name_key", "last_name_key"} & set(f)
    ]
    records = extract.records.drop(names)
    records = records.with_columns(
        pl.Series(
            FILTER_PREFIX + "name",
            [
                _clk(f, s)
                for f, s in zip(truth["first_name_key"], truth["last_name_key"], strict=True)
            ],
            pl.Binary,
        )
    )
    for column in ("first_name", "last_name"):
        records = records.with_columns(
            pl.Series(
                f"sealed_{column}",
                [
                    None if v is None else os.urandom(len(v.encode("utf-8")) + _OVERHEAD)
                    for v in truth[column]
                ],
                pl.Binary,
            )
        )
    fields = {c: f for c, f in extract.filter_fields.items() if c not in names}
    fields[FILTER_PREFIX + "name"] = ("first_name_key", "last_name_key")
    return replace(extract, records=records, filter_fields=fields)


def weaken(setting: Setting) -> Setting:
    return setting.with_extracts(
        tuple(_weak_extract(e) for e in setting.extracts), _weak_extract(setting.later)
    )
