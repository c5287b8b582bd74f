"""Drawing the people, tenancies and planted cases behind the synthetic registers.

:mod:`synthetic.registers` decides which companies exist and writes their exports and
``truth.csv``; this module draws what goes into them, one polars frame per company in file order
(record ids assigned), planted cases marked in the columns ``case``, ``kind``, ``subkind`` and
``expect``. The case kinds and what each one plants are described in :mod:`synthetic.registers`.

The background is drawn vectorised (numpy ``Generator`` + polars), so 1M rows per company take
seconds; only the planted cases (a few per cent) get per-row Python. Allocators keep every
personnummer, and every (first name, surname, birth date), unique across all companies and cases.
The order of the draws from the one ``Generator`` is part of the output: the same seed must give
the same files, so reordering draws changes every generated register.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import polars as pl
from numpy.typing import NDArray

from synthetic import SyntheticError
from synthetic.namelists import (
    EMAIL_DOMAINS,
    FEMALE_FIRST_NAMES,
    MALE_FIRST_NAMES,
    ORNAMENTAL_PARTS,
    ORNAMENTAL_SHARE,
    SHORT_SURNAMES,
    SURNAMES,
    TOWNS,
    Town,
)

__all__ = ["CASE_KINDS", "VARIANT_SUBKINDS", "CompanySpec", "draw_registers"]

VARIANT_SUBKINDS: Final = (
    "typo",
    "lost_diacritics",
    "swapped_names",
    "new_surname",
    "id_typo",
    "coordination_replaced",
)

# kind -> (cases per company row, minimum number of cases, companies a case spans)
_CASE_PLAN: Final[dict[str, tuple[float, int, int]]] = {
    "concurrent_tenancy": (0.015, 3, 2),
    "short_overlap_move": (0.010, 2, 2),
    "identity_variant": (0.010, len(VARIANT_SUBKINDS), 2),
    "co_tenant": (0.003, 1, 1),
    "parking_storage": (0.005, 2, 2),
    "protected_identity": (0.002, 1, 2),
    "invalid_id": (0.002, 2, 1),
    "duplicate_row": (0.002, 1, 1),
    "minor": (0.002, 1, 1),
}
CASE_KINDS: Final = tuple(_CASE_PLAN)


# Keys of the personnummer allocator: (days since 1970 + offset) * 1000 + serial, plus a flag
# for samordningsnummer, which live in their own number space.
_DAY_OFFSET: Final = 40_000
_COORDINATION_FLAG: Final = 1_000_000_000
_OPEN: Final = np.iinfo(np.int32).min  # sentinel end day of an ongoing contract
_ADULT_DAYS: Final = 6_576  # 18 years, rounded up so that "adult on that day" always holds

_FIRST_NAMES: Final = tuple(n for n, _ in FEMALE_FIRST_NAMES) + tuple(
    n for n, _ in MALE_FIRST_NAMES
)
_DIACRITICS: Final = frozenset("åäöéÅÄÖÉ")
# Canonical contract types, sorted so that numpy can look codes up with searchsorted.
_TYPE_NAMES: Final = pl.Series(
    sorted(("residential", "student", "parking", "storage", "commercial"))
)

# Start and end day of the contract at a pair's first company, then at its second.
_Periods = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


@dataclass(frozen=True)
class CompanySpec:
    """One fictional company: who it is, the layout of its export and the town it lets in."""

    company_id: str
    name: str
    layout: str  # key of synthetic.namelists.LAYOUT_HEADERS
    town: Town


def draw_registers(
    specs: Sequence[CompanySpec], records: int, *, rng: np.random.Generator, as_of: date
) -> list[pl.DataFrame]:
    """Register rows of every company in `specs` (file order, record ids assigned), planted
    cases included; `records` rows each unless the minimum number of planted cases needs more."""
    return _Synthesiser(rng, as_of, list(specs)).build(records)


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February in a non-leap year
        return d.replace(year=d.year - years, day=28)


def _weights(pairs: Sequence[tuple[str, int]]) -> NDArray[np.float64]:
    w = np.array([c for _, c in pairs], dtype=np.float64)
    out: NDArray[np.float64] = w / w.sum()
    return out


def _luhn(nine: NDArray[np.int64]) -> NDArray[np.int64]:
    """Check digit of YYMMDDNNN (as a 9-digit integer), weights 2,1,2,... from the left."""
    total = np.zeros(nine.shape, dtype=np.int64)
    for i in range(9):
        digit = (nine // 10 ** (8 - i)) % 10
        p = digit * (2 if i % 2 == 0 else 1)
        total += p // 10 + p % 10
    return (10 - total % 10) % 10


def _pnr(
    year: NDArray[np.int64],
    month: NDArray[np.int64],
    day: NDArray[np.int64],
    serial: NDArray[np.int64],
) -> NDArray[np.int64]:
    """12-digit personnummer YYYYMMDDNNNC as integers; `day` already has +60 when coordination."""
    nine = (year % 100) * 10_000_000 + month * 100_000 + day * 1_000 + serial
    return year * 100_000_000 + month * 1_000_000 + day * 10_000 + serial * 10 + _luhn(nine)


def _ymd(
    days: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months).astype(np.int64) + 1
    return year, month, day


def _repeats(keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True for every element equal to an earlier one.

    Sort-based on purpose: numpy's hash-based ``unique`` is an order of magnitude slower on
    a million distinct int64 keys.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeat = np.zeros(keys.size, dtype=bool)
    repeat[order[1:]] = ordered[1:] == ordered[:-1]
    return repeat


def _contains(sorted_keys: NDArray[np.int64], keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    found: NDArray[np.bool_] = sorted_keys[pos] == keys
    return found


def _merged(sorted_keys: NDArray[np.int64], keys: NDArray[np.int64]) -> NDArray[np.int64]:
    # A stable sort of "sorted run + new keys" is a merge (timsort), not a full sort.
    return np.sort(np.concatenate([sorted_keys, keys]), kind="stable")


def _settle(
    keys: NDArray[np.int64],
    taken: NDArray[np.int64],
    redraw: Callable[[NDArray[np.int64]], NDArray[np.int64]],
) -> NDArray[np.int64]:
    """Redraw keys (in place) until they differ from `taken` (sorted) and from each other.

    `redraw(positions)` returns fresh keys for those positions. Only the clashing few are
    checked again, so a million keys settle in a few passes over the whole array.
    """
    bad = _contains(taken, keys) | _repeats(keys)
    accepted = np.sort(keys[~bad])
    todo = np.flatnonzero(bad)
    for _ in range(200):
        if todo.size == 0:
            return keys
        keys[todo] = redraw(todo)
        fresh = keys[todo]
        clash = _contains(taken, fresh) | _contains(accepted, fresh) | _repeats(fresh)
        accepted = _merged(accepted, fresh[~clash])
        todo = todo[clash]
    raise SyntheticError("synth could not draw distinct identities; use fewer records per company.")


class _Synthesiser:
    """Draws people and contracts; holds the allocators that keep ids and identities unique."""

    def __init__(self, rng: np.random.Generator, as_of: date, specs: list[CompanySpec]) -> None:
        self.rng = rng
        self.as_of = as_of
        self.today = _days(as_of)
        self.specs = specs
        self.used_ids = np.empty(0, dtype=np.int64)
        self.used_identities = np.empty(0, dtype=np.int64)
        self.next_group = 0
        self.next_case = 1
        self.female_p = _weights(FEMALE_FIRST_NAMES)
        self.male_p = _weights(MALE_FIRST_NAMES)
        base = [n for n, _ in SURNAMES]
        known = {n.lower() for n in base}
        tail = [
            a + b
            for a in ORNAMENTAL_PARTS[0]
            for b in ORNAMENTAL_PARTS[1]
            if (a + b).lower() not in known and a.lower() != b
        ]
        # Zipf-like within the tail, so that even rare names are not all equally rare, in an
        # order fixed once (not by the caller's seed): in list order the commonest tail names
        # would all start "Alm-", a cluster of look-alikes no real register has.
        tail = [tail[i] for i in np.random.default_rng(0).permutation(len(tail))]
        tail_w = 1.0 / (np.arange(len(tail)) + 200.0)
        self.surname_p = np.concatenate(
            [_weights(SURNAMES) * (1 - ORNAMENTAL_SHARE), tail_w / tail_w.sum() * ORNAMENTAL_SHARE]
        )
        base += tail
        self.n_surnames = len(base)
        diacritic = np.array([bool(_DIACRITICS & set(n)) for n in base])
        self.diacritic_surname_p = np.where(diacritic, self.surname_p, 0.0)
        self.diacritic_surname_p /= self.diacritic_surname_p.sum()
        # Surname codes: base index, or base + len(base) * (k + 1) for "base SHORT[k]".
        self.surnames = base + [f"{b} {s}" if b != s else b for s in SHORT_SURNAMES for b in base]
        streets: list[str] = []
        postals: list[str] = []
        self.street_offsets: list[int] = []
        for town in TOWNS:
            self.street_offsets.append(len(streets))
            streets += [s for s, _ in town.streets]
            postals += [p for _, p in town.streets]
        self.streets = pl.Series(streets, dtype=pl.String)
        self.postals = pl.Series(postals, dtype=pl.String)
        # Per company: where its town's streets start in the flat list, and how many there are.
        towns = [TOWNS.index(spec.town) for spec in specs]
        self.street_start = np.array([self.street_offsets[t] for t in towns])
        self.street_count = np.array([len(TOWNS[t].streets) for t in towns])
        self.cities = pl.Series([spec.town.city for spec in specs], dtype=pl.String)
        self.area_codes = pl.Series(
            ["070", "072", "073", "076"] + [spec.town.area_code for spec in specs], dtype=pl.String
        )
        # Area code (with its 0) and subscriber number make 9 digits: 013-123456, 0141-12345.
        self.landline_digits = np.array([9 - len(spec.town.area_code) for spec in specs])

    # -- identities --

    def _serials(self, births: NDArray[np.int64], coord: NDArray[np.bool_]) -> NDArray[np.int64]:
        """Fresh serials (1-999) such that no two people, ever, share a number."""
        base = (births + _DAY_OFFSET) * 1000 + coord.astype(np.int64) * _COORDINATION_FLAG
        return self._claim_serials(base, lambda at: base[at] + self.rng.integers(1, 1000, at.size))

    def _typo_serials(
        self, births: NDArray[np.int64], serial: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Each serial with one of its three digits changed, to an unused number."""
        base = (births + _DAY_OFFSET) * 1000

        def typo(at: NDArray[np.int64]) -> NDArray[np.int64]:
            place = 10 ** self.rng.integers(0, 3, at.size)
            digit = (serial[at] // place) % 10
            new_digit = (digit + self.rng.integers(1, 10, at.size)) % 10
            changed = serial[at] + (new_digit - digit) * place
            # Serial 000 is never issued: send it to the used key of this very person.
            return np.where(changed == 0, base[at] + serial[at], base[at] + changed)

        return self._claim_serials(base, typo)

    def _claim_serials(
        self, base: NDArray[np.int64], draw: Callable[[NDArray[np.int64]], NDArray[np.int64]]
    ) -> NDArray[np.int64]:
        """Keys `draw(positions)` (base + serial), redrawn until unused, claimed; the serials."""
        keys = _settle(draw(np.arange(base.size)), self.used_ids, draw)
        self.used_ids = _merged(self.used_ids, keys)
        return keys - base

    def _surname_codes(self, n: int, diacritic: NDArray[np.bool_]) -> NDArray[np.int64]:
        codes = self.rng.choice(self.n_surnames, n, p=self.surname_p).astype(np.int64)
        if diacritic.any():
            codes[diacritic] = self.rng.choice(
                self.n_surnames, int(diacritic.sum()), p=self.diacritic_surname_p
            )
        double = (self.rng.random(n) < 0.02) & ~diacritic
        codes[double] += self.n_surnames * (
            1 + self.rng.integers(0, len(SHORT_SURNAMES), int(double.sum()))
        )
        return codes

    def people(
        self,
        company: NDArray[np.int64],
        *,
        min_age: int = 18,
        max_age: int = 95,
        coordination: float = 0.0,
        centenarians: float = 0.0,
        diacritic: NDArray[np.bool_] | None = None,
    ) -> pl.DataFrame:
        """Distinct people, columns birth, serial, coord, pnr, first, last, phone, email."""
        rng, n = self.rng, company.size
        lo = _days(_years_before(self.as_of, max_age + 1)) + 1
        hi = _days(_years_before(self.as_of, min_age))
        births = rng.integers(lo, hi + 1, n)
        if centenarians > 0:
            old = rng.random(n) < centenarians
            births[old] = rng.integers(
                _days(_years_before(self.as_of, 104)) + 1,
                _days(_years_before(self.as_of, 100)) + 1,
                int(old.sum()),
            )
        coord = rng.random(n) < coordination
        serial = self._serials(births, coord)
        male = serial % 2 == 1  # the ninth digit is odd for men
        nf = len(FEMALE_FIRST_NAMES)
        first = np.where(
            male,
            nf + rng.choice(len(MALE_FIRST_NAMES), n, p=self.male_p),
            rng.choice(nf, n, p=self.female_p),
        ).astype(np.int64)
        wants_diacritic = np.zeros(n, dtype=bool) if diacritic is None else diacritic
        last = self._surname_codes(n, wants_diacritic)
        # Re-draw surnames until (first name, surname, birth date) is new: a background
        # "Anna Andersson 1980-05-01" at two companies would be an unplanted fuzzy hit.
        person = ((births + _DAY_OFFSET) * 512 + first) * 65_536

        def other_surname(at: NDArray[np.int64]) -> NDArray[np.int64]:
            last[at] = self._surname_codes(at.size, wants_diacritic[at])
            return person[at] + last[at]

        keys = _settle(person + last, self.used_identities, other_surname)
        self.used_identities = _merged(self.used_identities, keys)

        year, month, day = _ymd(births)
        pnr = _pnr(year, month, day + 60 * coord, serial)
        frame = pl.DataFrame(
            {
                "birth": births,
                "serial": serial,
                "coord": coord,
                "pnr": pl.Series(pnr).cast(pl.String),
                "first": pl.Series(_FIRST_NAMES, dtype=pl.String).gather(first),
                "last": pl.Series(self.surnames, dtype=pl.String).gather(last),
            }
        )
        return frame.with_columns(
            phone=self._phones(company), email=self._emails(frame["first"], frame["last"])
        )

    def _phones(self, company: NDArray[np.int64]) -> pl.Series:
        """National numbers with the area code split off by '-', e.g. 070-1234567, 013-123456."""
        rng, n = self.rng, company.size
        mobile = rng.random(n) < 0.8
        area = np.where(mobile, rng.integers(0, 4, n), 4 + company)
        local_len = np.where(mobile, 7, self.landline_digits[company])
        # Subscriber numbers start with 2-9: a leading 0 or 1 would read as a prefix.
        floor = 10 ** (local_len - 1)
        local = 2 * floor + (rng.random(n) * 8 * floor).astype(np.int64)
        frame = pl.DataFrame(
            {"area": self.area_codes.gather(area), "local": local, "has": rng.random(n) < 0.85}
        )
        return frame.select(
            pl.when(pl.col("has"))
            .then(pl.format("{}-{}", pl.col("area"), pl.col("local")))
            .alias("phone")
        ).to_series()

    def _emails(self, first: pl.Series, last: pl.Series) -> pl.Series:
        rng, n = self.rng, first.len()
        fold = ["å", "ä", "ö", "é", " ", "-"], ["a", "a", "o", "e", "", ""]
        digits = rng.integers(10, 100, n)
        frame = pl.DataFrame(
            {
                "first": first,
                "last": last,
                "suffix": pl.Series(digits).cast(pl.String),
                "numbered": rng.random(n) < 0.4,
                "domain": np.array(EMAIL_DOMAINS)[rng.integers(0, len(EMAIL_DOMAINS), n)],
                "has": rng.random(n) < 0.75,
            }
        )
        local = pl.format(
            "{}.{}{}",
            pl.col("first").str.to_lowercase().str.replace_many(*fold),
            pl.col("last").str.to_lowercase().str.replace_many(*fold),
            pl.when(pl.col("numbered")).then(pl.col("suffix")).otherwise(pl.lit("")),
        )
        return frame.select(
            pl.when(pl.col("has")).then(pl.format("{}@{}", local, pl.col("domain"))).alias("email")
        ).to_series()

    # -- contracts --

    def rows(
        self,
        people: pl.DataFrame,
        company: NDArray[np.int64],
        start: NDArray[np.int64],
        end: NDArray[np.int64],
        ctype: NDArray[np.str_],
        *,
        kind: str | None = None,
        case: NDArray[np.int64] | None = None,
        subkind: NDArray[np.str_] | None = None,
        expect: NDArray[np.str_] | str | None = None,
        protected: NDArray[np.bool_] | None = None,
    ) -> pl.DataFrame:
        """One register row per person: a contract at a fresh address in the company's town."""
        rng, n = self.rng, company.size
        street = self.street_start[company] + (rng.random(n) * self.street_count[company]).astype(
            np.int64
        )
        number = 1 + np.minimum(rng.geometric(0.04, n), 150)
        letter = pl.Series(["", "", "", "", "", "A", "B", "C"]).gather(rng.integers(0, 8, n))
        dwelling = np.isin(ctype, ["residential", "student"])
        flat = (10 + rng.choice(6, n, p=[0.25, 0.25, 0.2, 0.15, 0.1, 0.05])) * 100
        flat += rng.integers(1, 7, n)
        sublet = (ctype == "residential") & (rng.random(n) < 0.03)
        groups = np.arange(self.next_group, self.next_group + n)
        self.next_group += n
        frame = pl.DataFrame(
            {
                "company": company.astype(np.int32),
                "pnr": people["pnr"],
                "first": people["first"],
                "last": people["last"],
                "phone": people["phone"],
                "email": people["email"],
                "postal": self.postals.gather(street),
                "city": self.cities.gather(company),
                "apt": pl.Series(flat).cast(pl.String),
                "dwelling": dwelling,
                "group": groups,
                "start": start.astype(np.int32),
                "end": end.astype(np.int32),
                "ctype": _TYPE_NAMES.gather(np.searchsorted(_TYPE_NAMES.to_numpy(), ctype)),
                "sublet": sublet,
                "protected": np.zeros(n, dtype=bool) if protected is None else protected,
            }
        )
        street_names = (
            pl.DataFrame({"name": self.streets.gather(street), "number": number, "letter": letter})
            .select(pl.format("{} {}{}", "name", "number", "letter"))
            .to_series()
        )
        return frame.with_columns(
            case=pl.lit(None, pl.Int64) if case is None else pl.Series(case),
            kind=pl.lit(kind, pl.String),
            subkind=pl.lit(None, pl.String) if subkind is None else pl.Series(subkind),
            expect=pl.Series(expect)
            if isinstance(expect, np.ndarray)
            else pl.lit(expect, pl.String),
            role=pl.lit("primary"),
            street=street_names,
            apt=pl.when(pl.col("dwelling")).then(pl.col("apt")),
            start=pl.col("start").cast(pl.Date),
            end=pl.when(pl.col("end") != _OPEN).then(pl.col("end")).cast(pl.Date),
        ).drop("dwelling")

    def background_periods(
        self, births: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Starts over the last 15 years (never before 18), about 30 % ended."""
        rng, n, today = self.rng, births.size, self.today
        start = today - rng.integers(1, 15 * 365, n)
        adult = births + _ADULT_DAYS
        start = np.maximum(start, adult + (rng.random(n) * (today - adult)).astype(np.int64) // 3)
        ended = rng.random(n) < 0.3
        # Some ended contracts end after the extract date: notice given, still running.
        length = 1 + (rng.random(n) * (today + 90 - start)).astype(np.int64)
        end = np.where(ended, start + length, _OPEN)
        return start, end

    def overlapping_periods(self, births: NDArray[np.int64]) -> tuple[_Periods, NDArray[np.str_]]:
        """Two contracts per person overlapping >= 200 days, both begun as an adult, the overlap
        still running or ended within the last two years (inside the shipped policy's three-year
        look-back, so every planted case is one a run must find).

        Returns start and end of the first and the second contract, and the overlap's shape.
        Needs people of 19 or more, so that a 200-day overlap fits after their 18th birthday.
        """
        rng, today, n = self.rng, self.today, births.size
        adult = births + _ADULT_DAYS
        shape = np.array(["both_open", "one_open", "both_ended"])[rng.integers(0, 3, n)]
        back = np.minimum(900, today - adult)
        o_start = today - 200 - (rng.random(n) * (back - 200)).astype(np.int64)
        room = today - o_start
        o_end = o_start + 200 + (rng.random(n) * (np.minimum(room, 1500) - 200)).astype(np.int64)
        late_end = np.where(
            shape == "both_ended",
            np.minimum(o_end + rng.integers(0, 700, n), today),
            _OPEN,
        )
        early_end = np.where(shape == "both_open", _OPEN, o_end)
        early_start = np.maximum(o_start - rng.integers(0, 3 * 365, n), adult)
        first_starts_early = rng.random(n) < 0.5
        first_ends_early = rng.random(n) < 0.5
        s1 = np.where(first_starts_early, early_start, o_start)
        s2 = np.where(first_starts_early, o_start, early_start)
        e1 = np.where(first_ends_early, early_end, late_end)
        e2 = np.where(first_ends_early, late_end, early_end)
        return (s1, e1, s2, e2), shape

    # -- planting --

    def cases(self, n: int) -> NDArray[np.int64]:
        ids = np.arange(self.next_case, self.next_case + n, dtype=np.int64)
        self.next_case += n
        return ids

    def build(self, records: int) -> list[pl.DataFrame]:
        """Register rows of every company (record ids assigned, file order), planted included."""
        rng, companies = self.rng, len(self.specs)
        pairs = np.array([(a, b) for a in range(companies) for b in range(companies) if a != b])
        plan: dict[str, NDArray[np.int64]] = {}
        for kind, (rate, minimum, span) in _CASE_PLAN.items():
            n = max(minimum, round(rate * records * companies / span))
            if span == 2:
                plan[kind] = pairs[rng.permutation(np.resize(np.arange(len(pairs)), n))]
            else:
                plan[kind] = rng.permutation(np.resize(np.arange(companies), n))[:, None]

        planted = [
            self._concurrent(plan["concurrent_tenancy"]),
            self._short_moves(plan["short_overlap_move"]),
            self._variants(plan["identity_variant"]),
            self._co_tenants(plan["co_tenant"][:, 0]),
            self._parking_storage(plan["parking_storage"]),
            self._protected(plan["protected_identity"]),
            self._invalid_ids(plan["invalid_id"][:, 0]),
            self._minors(plan["minor"][:, 0]),
        ]
        planted_frame = pl.concat(planted)
        duplicates = plan["duplicate_row"][:, 0]
        out = []
        for c in range(companies):
            mine = planted_frame.filter(pl.col("company") == c)
            n_dup = int((duplicates == c).sum())
            # Duplicates copy background rows, so there must be at least that many.
            background = max(n_dup, records - mine.height - n_dup)
            frame = pl.concat([mine, self._background(c, background)])
            out.append(self._arrange(frame, c, n_dup))
        return out

    def _background(self, company: int, n_rows: int) -> pl.DataFrame:
        rng = self.rng
        n_people = round(n_rows / 1.1)
        comp = np.full(n_people, company, dtype=np.int64)
        people = self.people(comp, coordination=0.01, centenarians=0.001)
        births = people["birth"].to_numpy()
        start, end = self.background_periods(births)
        age = (self.today - births) / 365.25
        ctype = np.array(["residential", "parking", "storage", "commercial"])[
            rng.choice(4, n_people, p=[0.91, 0.04, 0.03, 0.02])
        ]
        ctype = np.where((age < 30) & (rng.random(n_people) < 0.35), "student", ctype)
        main = self.rows(people, comp, start, end, ctype)
        # Some tenants also rent a parking space or a storage room from the same company.
        k = n_rows - n_people
        if n_people == 0 or k <= 0:
            return main
        extra = rng.choice(n_people, k, replace=False)
        x_start = start[extra] + (rng.random(k) * (self.today - start[extra])).astype(np.int64)
        length = 1 + (rng.random(k) * (self.today + 90 - x_start)).astype(np.int64)
        x_end = np.where(rng.random(k) < 0.3, x_start + length, _OPEN)
        x_type = np.where(rng.random(k) < 0.55, "parking", "storage")
        return pl.concat([main, self.rows(people[extra], comp[extra], x_start, x_end, x_type)])

    def _pair_rows(
        self,
        kind: str,
        pairs: NDArray[np.int64],
        people: pl.DataFrame,
        periods: _Periods,
        *,
        expect: tuple[str, str],
        types: tuple[NDArray[np.str_], NDArray[np.str_]] | None = None,
        subkind: NDArray[np.str_] | None = None,
        b_people: pl.DataFrame | None = None,
        a_protected: bool = False,
    ) -> pl.DataFrame:
        """One case per pair: `people` rent at the pair's first company, and the same people
        (`b_people`, by default :meth:`_mirror` of them) at its second; residential by default."""
        n = len(pairs)
        if b_people is None:
            b_people = self._mirror(people)
        if types is None:
            types = (np.full(n, "residential"), np.full(n, "residential"))
        case = self.cases(n)
        s1, e1, s2, e2 = periods
        sides = ((people, s1, e1), (b_people, s2, e2))
        return pl.concat(
            [
                self.rows(
                    who,
                    pairs[:, side],
                    start,
                    end,
                    types[side],
                    kind=kind,
                    case=case,
                    subkind=subkind,
                    expect=expect[side],
                    protected=np.full(n, a_protected and side == 0),
                )
                for side, (who, start, end) in enumerate(sides)
            ]
        )

    def _mirror(self, people: pl.DataFrame) -> pl.DataFrame:
        """The same person at the second company: phone and e-mail kept or dropped, as in life."""
        n, rng = people.height, self.rng
        return people.with_columns(
            # A mobile number follows its owner; a landline stays in the other town.
            phone=pl.when(
                pl.Series(rng.random(n) < 0.7) & pl.col("phone").str.starts_with("07")
            ).then(pl.col("phone")),
            email=pl.when(pl.Series(rng.random(n) < 0.7)).then(pl.col("email")),
        )

    def _dwelling_types(self, births: NDArray[np.int64]) -> NDArray[np.str_]:
        young = (self.today - births) < 30 * 365
        return np.where(young & (self.rng.random(births.size) < 0.5), "student", "residential")

    def _concurrent(self, pairs: NDArray[np.int64]) -> pl.DataFrame:
        people = self.people(pairs[:, 0], min_age=19, max_age=90)
        births = people["birth"].to_numpy()
        periods, shape = self.overlapping_periods(births)
        types = (self._dwelling_types(births), self._dwelling_types(births))
        return self._pair_rows(
            "concurrent_tenancy",
            pairs,
            people,
            periods,
            types=types,
            subkind=shape,
            expect=("hit_exact", "hit_exact"),
        )

    def _short_moves(self, pairs: NDArray[np.int64]) -> pl.DataFrame:
        rng, n, today = self.rng, len(pairs), self.today
        people = self.people(pairs[:, 0], min_age=30, max_age=90)
        adult = people["birth"].to_numpy() + _ADULT_DAYS
        e1 = today - rng.integers(30, 8 * 365, n)
        overlap = rng.integers(2, 60, n)  # days, counted inclusively
        s2 = e1 - overlap + 1
        s1 = np.maximum(e1 - rng.integers(365, 6 * 365, n), adult)
        e2 = e1 + rng.integers(180, 2000, n)
        e2 = np.where((rng.random(n) < 0.7) | (e2 > today), _OPEN, e2)
        return self._pair_rows(
            "short_overlap_move", pairs, people, (s1, e1, s2, e2), expect=("no_hit", "no_hit")
        )

    def _parking_storage(self, pairs: NDArray[np.int64]) -> pl.DataFrame:
        n = len(pairs)
        people = self.people(pairs[:, 0], min_age=19, max_age=90)
        periods, _ = self.overlapping_periods(people["birth"].to_numpy())
        minor_type = np.resize(np.array(["parking", "storage"]), n)[self.rng.permutation(n)]
        return self._pair_rows(
            "parking_storage",
            pairs,
            people,
            periods,
            types=(np.full(n, "residential"), minor_type),
            subkind=minor_type,
            expect=("no_hit", "no_hit"),
        )

    def _protected(self, pairs: NDArray[np.int64]) -> pl.DataFrame:
        people = self.people(pairs[:, 0], min_age=19, max_age=90)
        periods, _ = self.overlapping_periods(people["birth"].to_numpy())
        return self._pair_rows(
            "protected_identity",
            pairs,
            people,
            periods,
            expect=("excluded", "no_hit"),
            a_protected=True,
        )

    def _variants(self, pairs: NDArray[np.int64]) -> pl.DataFrame:
        rng, n = self.rng, len(pairs)
        sub = np.array(VARIANT_SUBKINDS)[
            rng.permutation(np.resize(np.arange(len(VARIANT_SUBKINDS)), n))
        ]
        lost = sub == "lost_diacritics"
        people = self.people(pairs[:, 0], min_age=19, max_age=90, diacritic=lost)
        births = people["birth"].to_numpy()
        serial = people["serial"].to_numpy()
        year, month, day = _ymd(births)

        # The record at the second company carries a different, still valid number ...
        typo_serial = self._typo_serials(births, serial)
        b_pnr = _pnr(year, month, day, typo_serial).astype(str)
        real = sub == "coordination_replaced"
        b_pnr = np.where(real, people["pnr"].to_numpy(), b_pnr)
        # ... and for coordination_replaced the first company still has the old
        # samordningsnummer (same birth date, day + 60, its own serial).
        coord_serial = self._serials(births, np.ones(n, dtype=bool))
        a_pnr = np.where(real, _pnr(year, month, day + 60, coord_serial).astype(str), people["pnr"])

        first = people["first"].to_list()
        last = people["last"].to_list()
        b_first, b_last = list(first), list(last)
        for i, kind in enumerate(sub):
            if kind == "typo":
                if rng.random() < 0.5:
                    b_first[i] = _typo(first[i], rng)
                else:
                    b_last[i] = _typo(last[i], rng)
            elif kind == "lost_diacritics":
                mode = int(rng.integers(0, 3))
                b_first[i], b_last[i] = _damage(first[i], mode), _damage(last[i], mode)
            elif kind == "swapped_names":
                b_first[i], b_last[i] = last[i], first[i]
            elif kind == "new_surname":
                code = int(rng.choice(self.n_surnames, p=self.surname_p))
                while self.surnames[code] == last[i]:
                    code = int(rng.choice(self.n_surnames, p=self.surname_p))
                b_last[i] = self.surnames[code]

        a_people = people.with_columns(pnr=pl.Series(a_pnr, dtype=pl.String))
        b_people = self._mirror(people).with_columns(
            pnr=pl.Series(b_pnr, dtype=pl.String),
            first=pl.Series(b_first, dtype=pl.String),
            last=pl.Series(b_last, dtype=pl.String),
        )
        # Drawn after the mirror, unlike the other pair cases: the seed's output depends on it.
        periods, _ = self.overlapping_periods(births)
        return self._pair_rows(
            "identity_variant",
            pairs,
            a_people,
            periods,
            subkind=sub,
            expect=("hit_fuzzy", "hit_fuzzy"),
            b_people=b_people,
        )

    def _co_tenants(self, company: NDArray[np.int64]) -> pl.DataFrame:
        rng, n = self.rng, company.size
        primary = self.people(company, min_age=20, max_age=90)
        partner = self.people(company, min_age=20, max_age=90)
        # Most couples share a surname; the partner's own stays otherwise.
        same = pl.Series(rng.random(n) < 0.6)
        partner = partner.with_columns(
            last=pl.when(same).then(primary["last"]).otherwise(pl.col("last"))
        )
        start, end = self.background_periods(primary["birth"].to_numpy())
        case = self.cases(n)
        rows = self.rows(
            primary,
            company,
            start,
            end,
            np.full(n, "residential"),
            kind="co_tenant",
            case=case,
            expect="no_hit",
        )
        co = rows.with_columns(
            pnr=partner["pnr"],
            first=partner["first"],
            last=partner["last"],
            phone=partner["phone"],
            email=partner["email"],
            role=pl.lit("co_tenant"),
            sublet=pl.lit(False),
        )
        return pl.concat([rows, co])

    def _invalid_ids(self, company: NDArray[np.int64]) -> pl.DataFrame:
        rng, n = self.rng, company.size
        people = self.people(company)
        sub = np.resize(np.array(["bad_check_digit", "impossible_date"]), n)[rng.permutation(n)]
        births, serial = people["birth"].to_numpy(), people["serial"].to_numpy()
        year, month, day = _ymd(births)
        valid = _pnr(year, month, day, serial)
        wrong_check = valid - valid % 10 + (valid % 10 + rng.integers(1, 10, n)) % 10
        # An impossible date whose check digit is right: only the date check can catch it.
        bad_month = rng.random(n) < 0.5
        impossible = _pnr(
            year,
            np.where(bad_month, 13, 2),
            np.where(bad_month, day, 30 + rng.integers(0, 2, n)),
            serial,
        )
        pnr = np.where(sub == "bad_check_digit", wrong_check, impossible).astype(str)
        start, end = self.background_periods(births)
        return self.rows(
            people.with_columns(pnr=pl.Series(pnr, dtype=pl.String)),
            company,
            start,
            end,
            np.full(n, "residential"),
            kind="invalid_id",
            case=self.cases(n),
            subkind=sub,
            expect="excluded",
        )

    def _minors(self, company: NDArray[np.int64]) -> pl.DataFrame:
        rng, n = self.rng, company.size
        people = self.people(company, min_age=15, max_age=17)
        births = people["birth"].to_numpy()
        since_15 = self.today - (births + 5_479)
        start = self.today - 1 - (rng.random(n) * np.maximum(since_15 - 1, 1)).astype(np.int64)
        ctype = np.where(rng.random(n) < 0.5, "student", "residential")
        return self.rows(
            people,
            company,
            start,
            np.full(n, _OPEN),
            ctype,
            kind="minor",
            case=self.cases(n),
            expect="excluded",
        )

    def _arrange(self, frame: pl.DataFrame, company: int, n_copies: int) -> pl.DataFrame:
        """File order: rows shuffled, record ids in that order, and exact copies (record id
        included) of `n_copies` background rows inserted somewhere after their originals."""
        rng, n = self.rng, frame.height
        shuffle = rng.permutation(n)  # source row at each file position
        background = np.flatnonzero(frame["kind"].is_null().to_numpy()[shuffle])
        original = np.sort(rng.choice(background, n_copies, replace=False))
        later = original + (rng.random(n_copies) * (n - original)).astype(np.int64)
        order = np.argsort(np.concatenate([2 * np.arange(n), 2 * later + 1]), kind="stable")
        position = np.concatenate([np.arange(n), original])[order]
        copy = np.concatenate([np.zeros(n, dtype=bool), np.ones(n_copies, dtype=bool)])[order]
        copy_case = np.zeros(position.size, dtype=np.int64)
        copy_case[copy] = self.cases(n_copies)
        # One gather for shuffle and copies: each gather of a 1M-row frame costs about 1 s.
        rows: pl.DataFrame = frame[shuffle[position]]

        layout = self.specs[company].layout
        width = max(6, len(str(n)))
        seq = pl.Series(position + 1).cast(pl.String)
        if layout == "linbo":
            record_id = "L" + seq.str.zfill(width)
        elif layout == "norrhem":
            record_id = pl.Series(position + 100_001).cast(pl.String)
        else:
            record_id = "R-" + seq.str.zfill(width + 1)
        groups = rows["group"].rank("dense").cast(pl.Int64) - 1
        shuffled = pl.Series(rng.permutation(rows["group"].n_unique())).gather(groups)
        prefix = {"linbo": "K", "norrhem": "", "motabo": "C-"}[layout]
        is_copy = pl.Series(copy)
        return rows.with_columns(
            record_id=record_id,
            contract_no=prefix + (1_000_000 + shuffled).cast(pl.String),
            case=pl.when(is_copy).then(pl.Series(copy_case)).otherwise(pl.col("case")),
            kind=pl.when(is_copy).then(pl.lit("duplicate_row")).otherwise(pl.col("kind")),
            expect=pl.when(is_copy).then(pl.lit("excluded")).otherwise(pl.col("expect")),
        ).drop("group")


# --- identity damage (planted variants only; per row is fine at a few per cent) -------------

_LETTERS: Final = "abdeghiklmnoprstuvy"


def _typo(name: str, rng: np.random.Generator) -> str:
    """One edit (substitution, deletion or insertion) after the first letter."""
    for _ in range(20):
        op = int(rng.integers(0, 3))
        if len(name) <= 3:
            op = 2 if op == 1 else op  # never shorten a short name to almost nothing
        at = int(rng.integers(1, len(name) + (1 if op == 2 else 0)))
        letter = _LETTERS[int(rng.integers(0, len(_LETTERS)))]
        if op == 0:
            out = name[:at] + letter + name[at + 1 :]
        elif op == 1:
            out = name[:at] + name[at + 1 :]
        else:
            out = name[:at] + letter + name[at:]
        if out != name and not out.endswith(("-", " ")):
            return out
    return name + "e"


_FOLD: Final = str.maketrans("åäöéÅÄÖÉ", "aaoeAAOE")


def _damage(name: str, mode: int) -> str:
    """What a system without å/ä/ö makes of a name: folded, '?' or mojibake."""
    if mode == 0:
        return name.translate(_FOLD)
    if mode == 1:
        return "".join(ch if ch.isascii() else "?" for ch in name)
    return name.encode("utf-8").decode("cp1252", errors="replace")
