"""Seeded synthetic *normalised* rows (the input of connectors.pseudonymise) for benchmarks.

Built with numpy from small Swedish name and street lists with a Zipf-like frequency skew, so
the per-distinct-value caches of the encoder see realistic vocabularies. Not a register
generator (synthetic.registers is): these rows skip reading and normalising.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

__all__ = ["FIRST_NAMES", "LAST_NAMES", "STREETS", "normalised_rows"]

FIRST_NAMES = (
    "anna",
    "eva",
    "maria",
    "karin",
    "sara",
    "lena",
    "kerstin",
    "emma",
    "ingrid",
    "malin",
    "kristina",
    "birgitta",
    "sofia",
    "marie",
    "linnea",
    "elin",
    "ida",
    "hanna",
    "asa",
    "elsa",
    "lars",
    "mikael",
    "anders",
    "johan",
    "erik",
    "per",
    "karl",
    "peter",
    "jan",
    "thomas",
    "daniel",
    "fredrik",
    "hans",
    "andreas",
    "stefan",
    "mohammed",
    "bengt",
    "magnus",
    "nils",
    "bjorn",
    "goran",
    "oskar",
    "ali",
    "jonas",
    "mats",
    "ahmed",
    "sven",
    "olof",
    "mattias",
    "lisa",
)
LAST_NAMES = (
    "andersson",
    "johansson",
    "karlsson",
    "nilsson",
    "eriksson",
    "larsson",
    "olsson",
    "persson",
    "svensson",
    "gustafsson",
    "pettersson",
    "jonsson",
    "jansson",
    "hansson",
    "bengtsson",
    "joensson",
    "lindberg",
    "jakobsson",
    "magnusson",
    "lindstrom",
    "olofsson",
    "lindqvist",
    "lindgren",
    "berg",
    "axelsson",
    "bergstrom",
    "lundberg",
    "lind",
    "lundgren",
    "lundqvist",
    "mattsson",
    "berglund",
    "fredriksson",
    "sandberg",
    "henriksson",
    "forsberg",
    "sjoberg",
    "wallin",
    "ali",
    "engstrom",
    "mohamed",
    "eklund",
    "danielsson",
    "lundin",
    "hakansson",
    "bjork",
    "bergman",
    "gunnarsson",
    "holm",
    "wikstrom",
    "oberg",
    "ahmed",
)
STREETS = (
    "storgatan",
    "drottninggatan",
    "kungsgatan",
    "vasavagen",
    "ryds alle",
    "skarpgatan",
    "djurgardsgatan",
    "hamngatan",
    "trädgardsgatan",
    "nygatan",
    "ostra promenaden",
    "norra promenaden",
    "sandgatan",
    "linnegatan",
    "kopparhagen",
    "lambohovsleden",
    "vallavagen",
    "ekholmsvagen",
    "navestadsgatan",
    "hageby allé",
    "klostergatan",
    "apotekaregatan",
    "brogatan",
    "kvarngatan",
    "hospitalsgatan",
    "marielundsgatan",
)


def _skewed(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    # Zipf-like: weight 1/rank, so the most common name is ~ n times as frequent as the rarest.
    weights = 1.0 / np.arange(1, size + 1)
    return rng.choice(size, n, p=weights / weights.sum())


def normalised_rows(n: int, seed: int = 20240601) -> pl.DataFrame:
    """``n`` normalised rows with every column of connectors.record.NORMALISED_COLUMNS."""
    rng = np.random.default_rng(seed)
    first = pl.Series(FIRST_NAMES)[_skewed(rng, len(FIRST_NAMES), n)]
    # A second given name for a quarter of the people widens the name vocabulary.
    second = pl.Series(FIRST_NAMES)[_skewed(rng, len(FIRST_NAMES), n)]
    double = pl.Series(rng.random(n) < 0.25)
    last = pl.Series(LAST_NAMES)[_skewed(rng, len(LAST_NAMES), n)]
    street = pl.Series(STREETS)[_skewed(rng, len(STREETS), n)]
    epoch = date(1930, 1, 1).toordinal()
    dob = rng.integers(0, 365 * 75, n) + epoch - date(1970, 1, 1).toordinal()
    start = rng.integers(365 * 40, 365 * 55, n)
    end = np.where(rng.random(n) < 0.3, start + rng.integers(30, 3000, n), -1)
    serial = rng.integers(0, 10000, n)
    frame = pl.DataFrame(
        {
            "row": pl.Series(np.arange(2, n + 2, dtype=np.uint32)),
            "record_id": pl.Series(np.arange(n)).cast(pl.String),
            "birth_date": pl.Series(dob.astype(np.int32)).cast(pl.Date),
            "first_name_key": pl.select(
                pl.when(double).then(pl.concat_str(first, pl.lit(" "), second)).otherwise(first)
            ).to_series(),
            "last_name_key": last,
            "street_name_key": street,
            "street_number": pl.Series(rng.integers(1, 80, n)).cast(pl.String),
            "street_letter": pl.Series(np.array(["", "", "", "", "a", "b"])[rng.integers(0, 6, n)]),
            "postal_code": pl.Series(rng.integers(58000, 60500, n)).cast(pl.String),
            "apartment_number": pl.Series(rng.integers(1001, 1400, n)).cast(pl.String),
            "contract_start": pl.Series(start.astype(np.int32)).cast(pl.Date),
            "contract_end": pl.Series(end.astype(np.int32))
            .cast(pl.Date)
            .set(pl.Series(end < 0), None),
            "contract_type": pl.Series(
                np.array(["residential", "student", "parking", "storage", "commercial"])[
                    rng.choice(5, n, p=[0.8, 0.05, 0.1, 0.04, 0.01])
                ]
            ),
            "tenant_role": pl.Series(
                np.array(["primary", "co_tenant", None])[rng.choice(3, n, p=[0.8, 0.15, 0.05])]
            ),
            "sublet_approved": pl.Series(rng.random(n) < 0.02),
            "phone_digits": pl.Series(rng.integers(0, 10**8, n)),
            "serial": pl.Series(serial),
        }
    )
    title = pl.col("first_name_key").str.to_titlecase()
    return frame.with_columns(
        national_id=pl.concat_str(
            pl.col("birth_date").dt.to_string("%Y%m%d"),
            pl.col("serial").cast(pl.String).str.zfill(4),
        ),
        first_name=title,
        last_name=pl.col("last_name_key").str.to_titlecase(),
        street_address=pl.concat_str(
            pl.col("street_name_key").str.to_titlecase(),
            pl.lit(" "),
            pl.col("street_number"),
            pl.col("street_letter").str.to_uppercase(),
        ),
        city=pl.lit("Linköping"),
        city_key=pl.lit("linkoping"),
        contract_id=pl.concat_str(pl.lit("K-"), pl.col("record_id")),
        phone=pl.when(pl.col("phone_digits") % 10 < 7).then(
            pl.concat_str(pl.lit("+4670"), pl.col("phone_digits").cast(pl.String).str.zfill(8))
        ),
        email=pl.when(pl.col("phone_digits") % 10 < 4).then(
            pl.concat_str(
                pl.col("first_name_key").str.replace_all(" ", "."),
                pl.lit("."),
                pl.col("last_name_key"),
                pl.col("record_id"),
                pl.lit("@example.se"),
            )
        ),
        protected_identity=pl.lit(False),
        exclusion=pl.lit(None, pl.String),
        problems=pl.lit(None, pl.String),
    ).drop("phone_digits", "serial")
