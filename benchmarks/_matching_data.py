"""Seeded synthetic extracts for the matching benchmark, made directly as pseudonymised columns.

Records are what the matcher receives (random 32-byte tokens, 16-byte keys, random Bloom
filters), not what a connector would derive from names, so millions of rows take seconds.
Block sizes follow a register's shape: key 1 spreads ~1M people over ~25k birth dates times
skewed initials, key 2 is a skewed surname x first name x birth year, key 3 an address.
Planted: ``shared`` of each company's records copy a record of an earlier company (same token,
keys and filters, overlapping residential contracts: exact hits) and ``variants`` copy one with
a fresh or missing token and a few filter bits flipped (fuzzy hits).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

__all__ = ["FILTER_BYTES", "make_extracts"]

FILTER_BYTES = {"name": 128, "birth_date": 32, "address": 128}
_EPOCH = date(1990, 1, 1)


def _binary(matrix: npt.NDArray[np.uint8], nulls: npt.NDArray[np.bool_] | None = None) -> pl.Series:
    rows, width = matrix.shape
    data = pa.py_buffer(np.ascontiguousarray(matrix).tobytes())
    validity = None
    if nulls is not None and nulls.any():
        validity = pa.py_buffer(np.packbits(~nulls, bitorder="little").tobytes())
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [validity, data])
    return pl.Series(pl.from_arrow(fixed.cast(pa.binary())))


def _keys(values: npt.NDArray[np.int64], tag: int) -> pl.Series:
    out = np.zeros((len(values), 16), dtype=np.uint8)
    # splitmix-style scramble so keys look like HMAC output, not counters.
    x = values.astype(np.uint64) + np.full(len(values), tag * 0x9E3779B9, dtype=np.uint64)
    x *= np.uint64(0xBF58476D1CE4E5B9)  # wraps modulo 2**64, as intended
    out[:, :8] = x.view(np.uint8).reshape(-1, 8)
    out[:, 8:] = np.array([tag], dtype=np.uint64).view(np.uint8)
    return _binary(out)


def _skewed(rng: np.random.Generator, n: int, size: int, a: float) -> npt.NDArray[np.int64]:
    weights = 1.0 / np.arange(1, size + 1) ** a
    return rng.choice(size, size=n, p=weights / weights.sum()).astype(np.int64)


def _company(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    birth = rng.integers(0, 25_000, n)
    first_initial = _skewed(rng, n, 20, 1.0)
    last_initial = _skewed(rng, n, 20, 1.0)
    # Top surname ~2.6 % (Andersson is ~2.3 % in Sweden), sum of squares ~0.0015.
    surname = _skewed(rng, n, 50_000, 0.8)
    first_name = _skewed(rng, n, 5_000, 0.7)
    start = rng.integers(0, 36 * 365, n)
    length = rng.integers(30, 4_000, n)
    return {
        "token": rng.integers(0, 256, (n, 32), dtype=np.uint8),
        "token_null": rng.random(n) < 0.002,
        # Phone and e-mail tokens: the fuzzy rule's corroborating evidence (30 % missing).
        **{t: rng.integers(0, 256, (n, 32), dtype=np.uint8) for t in ("phone", "email")},
        **{f"{t}_null": rng.random(n) < 0.3 for t in ("phone", "email")},
        "bdi": birth * 400 + first_initial * 20 + last_initial,
        "sny": (surname * 5_000 + first_name) * 70 + birth // 365,
        "addr": rng.integers(0, 500 * 10_000, n),
        **{f: rng.integers(0, 256, (n, b), dtype=np.uint8) for f, b in FILTER_BYTES.items()},
        "start": start,
        "end": start + length,
        "open": rng.random(n) < 0.5,
        "type": rng.choice(4, size=n, p=[0.85, 0.05, 0.05, 0.05]),
    }


def make_extracts(
    companies: int = 3,
    records: int = 100_000,
    seed: int = 0,
    shared: float = 0.02,
    variants: float = 0.01,
) -> dict[str, pl.DataFrame]:
    """``companies`` extracts of ``records`` rows each, keyed by company id ``co0``, ``co1``..."""
    rng = np.random.default_rng(seed)
    cols = [_company(rng, records) for _ in range(companies)]
    for j in range(1, companies):
        for kind, fraction in (("shared", shared), ("variant", variants)):
            m = int(records * fraction)
            dst = rng.choice(records, m, replace=False)
            src_company = rng.integers(0, j, m)
            src = rng.integers(0, records, m)
            for i in range(j):
                sel = src_company == i
                d, s = dst[sel], src[sel]
                a, b = cols[i], cols[j]
                for key in ("bdi", "sny", *FILTER_BYTES):
                    b[key][d] = a[key][s]
                if kind == "shared":
                    b["token"][d] = a["token"][s]
                    b["token_null"][d] = a["token_null"][s]
                else:
                    b["token_null"][d] = rng.random(len(d)) < 0.3
                    # Most people keep their phone number across a move.
                    kept = d[rng.random(len(d)) < 0.7]
                    b["phone"][kept] = a["phone"][s[np.isin(d, kept)]]
                    for f in ("name", "birth_date"):
                        # Flip ~3 % of the bits: a typo or a lost diacritic in the source.
                        flips = rng.random(b[f][d].shape) < 0.03
                        b[f][d] ^= (flips * (1 << rng.integers(0, 8, b[f][d].shape))).astype(
                            np.uint8
                        )
                # Both residential, overlapping by about a year: a concurrent tenancy.
                a["type"][s] = 0
                b["type"][d] = 0
                a["open"][s] = True
                b["start"][d] = a["start"][s] + 30
                b["end"][d] = b["start"][d] + 400
                b["open"][d] = False
    kinds = np.array(["residential", "student", "parking", "storage"])
    out: dict[str, pl.DataFrame] = {}
    for c, col in enumerate(cols):
        start = pl.Series(col["start"]).cast(pl.Int32)
        end = pl.Series(col["end"]).cast(pl.Int32)
        frame = pl.DataFrame(
            {
                "ref": [f"{c:02x}{i:014x}" for i in range(records)],
                "token_national_id": _binary(col["token"], col["token_null"]),
                "token_phone": _binary(col["phone"], col["phone_null"]),
                "token_email": _binary(col["email"], col["email_null"]),
                "block_birth_initials": _keys(col["bdi"], 1),
                "block_surname_year": _keys(col["sny"], 2),
                "block_address": _keys(col["addr"], 3),
                # Contract v2: one filter column per pass (same bytes here; cost, not quality).
                **{
                    f"filter_{f}__{key}": _binary(col[f])
                    for f in FILTER_BYTES
                    for key in ("address", "birth_initials", "surname_year")
                },
                "contract_start": pl.Series(np.datetime64(_EPOCH) + start.to_numpy()),
                "contract_end": pl.Series(np.datetime64(_EPOCH) + end.to_numpy()),
                "contract_type": kinds[col["type"]],
            }
        ).with_columns(
            pl.col("contract_start").cast(pl.Date),
            pl.when(pl.Series(col["open"]))
            .then(None)
            .otherwise(pl.col("contract_end").cast(pl.Date))
            .alias("contract_end"),
        )
        out[f"co{c}"] = frame
    return out
