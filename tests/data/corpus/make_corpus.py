"""Write the export corpus: register exports unlike the synthetic generator's (issue 11).

Run from the repository root: ``.venv/bin/python tests/data/corpus/make_corpus.py``. Seeded, so
the files come out the same every time. The people are fictional; their personnummer and
samordningsnummer carry valid check digits (python-stdnum's Luhn). ``corpus.json`` says, per
file, which column holds which canonical field (what `connector init --sample` must find) and
how many rows are flagged as protected identities (what `check` must exclude).
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import xlsxwriter
from stdnum import luhn

__all__ = ["LAYOUTS", "main"]

HERE = Path(__file__).resolve().parent
ROWS = 40
FIRST = ("Anna", "Lars", "Eva", "Karl", "Sara", "Johan", "Märta", "Örjan", "Åsa", "Nils")
LAST = ("Berg", "Lindqvist", "Öberg", "Åkesson", "Nilsson", "Ek", "Holm", "Sjöberg", "Karlsson")
STREETS = ("Storgatan", "Ågatan", "Kungsgatan", "Östra vägen", "Björkstigen", "Drottninggatan")
CITIES = (("582 25", "Linköping"), ("602 33", "Norrköping"), ("591 30", "Motala"))


@dataclass(frozen=True)
class Person:
    number: int
    birth: date
    serial: str  # three digits
    coordination: bool  # samordningsnummer: day + 60
    first: str
    last: str
    street: str
    postcode: str
    city: str
    apartment: str
    contract: str
    start: date
    end: date | None
    phone: str  # 070-123 45 67
    email: str
    protected: bool

    def pnr(self, form: str) -> str:
        """The id in one of the forms registers use (12, 10, with or without separator)."""
        day = self.birth.day + (60 if self.coordination else 0)
        short = f"{self.birth:%y%m}{day:02d}{self.serial}"
        check = luhn.calc_check_digit(short)
        century = f"{self.birth.year // 100}"
        return {
            "12": f"{century}{short}{check}",
            "12-": f"{century}{short[:6]}-{short[6:]}{check}",
            "10": f"{short}{check}",
            "10-": f"{short[:6]}-{short[6:]}{check}",
        }[form]


def people(rng: random.Random, n: int = ROWS, *, protected: int = 2) -> list[Person]:
    result = []
    flagged = set(rng.sample(range(n), protected))
    for i in range(n):
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        postcode, city = rng.choice(CITIES)
        start = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 365 * 12))
        end = start + timedelta(days=rng.randrange(200, 2000)) if rng.random() < 0.3 else None
        result.append(
            Person(
                number=i + 1,
                birth=birth,
                serial=f"{rng.randrange(0, 1000):03d}",
                coordination=rng.random() < 0.1,
                first=first,
                last=last,
                street=f"{rng.choice(STREETS)} {rng.randrange(1, 80)}",
                postcode=postcode,
                city=city,
                apartment=f"1{rng.randrange(0, 4)}0{rng.randrange(1, 9)}",
                contract=f"{rng.randrange(1, 9)}{i:04d}-{rng.randrange(10, 99)}",
                start=start,
                end=end,
                phone=f"070-{rng.randrange(100, 999)} {rng.randrange(10, 99)} "
                f"{rng.randrange(10, 99)}",
                email=f"{first.lower()}.{i}@example.se".replace("ä", "a")
                .replace("ö", "o")
                .replace("å", "a")
                .replace("Ö", "o")
                .replace("Å", "a"),
                protected=i in flagged,
            )
        )
    return result


# A layout: file name, its columns as (header, planted canonical field or None, value of a
# person), how it is written, and how many rows are protected.
Column = tuple[str, str | None, Callable[[Person], str]]


@dataclass(frozen=True)
class Layout:
    name: str
    columns: Sequence[Column]
    writer: str = "csv"  # csv | xlsx | sqlite
    delimiter: str = ","
    encoding: str = "utf-8"
    title_rows: Sequence[str] = ()
    protected: int = 2
    # rewrites a column's values after the fact (typos, mixed forms)
    mangle: Callable[[random.Random, list[list[str]]], None] | None = None


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _flag(yes: str, no: str) -> Callable[[Person], str]:
    return lambda p: yes if p.protected else no


def _bad_birth_dates(rng: random.Random, rows: list[list[str]], column: int, share: float) -> None:
    for index in rng.sample(range(len(rows)), max(1, round(len(rows) * share))):
        value = rows[index][column]
        rows[index][column] = value[:4] + rng.choice(("00", "13", "04")) + rng.choice(("93", "31"))


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "en_one_word_headers.csv",
        (
            ("ID", "record_id", lambda p: f"T{p.number:05d}"),
            ("SSN", "national_id", lambda p: p.pnr("12")),
            ("First", "first_name", lambda p: p.first),
            ("Last", "last_name", lambda p: p.last),
            ("Street", "street_address", lambda p: p.street),
            ("Zip", "postal_code", lambda p: p.postcode.replace(" ", "")),
            ("City", "city", lambda p: p.city),
            ("Start", "contract_start", lambda p: _iso(p.start)),
            ("End", "contract_end", lambda p: _iso(p.end)),
            ("Phone", "phone", lambda p: p.phone),
            ("Email", "email", lambda p: p.email),
            ("Protected", "protected_identity", _flag("true", "false")),
        ),
    ),
    Layout(
        "sv_generic_cp1252.csv",
        (
            ("Löpnr", "record_id", lambda p: str(p.number)),
            ("Personnummer", "national_id", lambda p: p.pnr("10-")),
            ("Namn", "full_name", lambda p: f"{p.last}, {p.first}"),
            ("Adress", "street_address", lambda p: p.street),
            ("Postnummer", "postal_code", lambda p: p.postcode),
            ("Ort", "city", lambda p: p.city),
            ("Inflyttning", "contract_start", lambda p: _iso(p.start)),
            ("Avflyttning", "contract_end", lambda p: _iso(p.end)),
            ("Skyddad", "protected_identity", _flag("Ja", "Nej")),
        ),
        delimiter=";",
        encoding="windows-1252",
    ),
    Layout(
        "sv_abbreviations.csv",
        (
            ("Radnr", "record_id", lambda p: str(p.number)),
            ("Pnr", "national_id", lambda p: p.pnr("12-")),
            ("Förn", "first_name", lambda p: p.first),
            ("Eftern", "last_name", lambda p: p.last),
            ("Gata", "street_address", lambda p: p.street),
            ("Postnr", "postal_code", lambda p: p.postcode),
            ("Lgh", "apartment_number", lambda p: p.apartment),
            ("Fr.o.m.", "contract_start", lambda p: f"{p.start:%Y%m%d}"),
            ("T.o.m.", "contract_end", lambda p: f"{p.end:%Y%m%d}" if p.end else ""),
            ("Tfn", "phone", lambda p: p.phone),
            ("Sekr", "protected_identity", _flag("J", "N")),
        ),
        delimiter=";",
    ),
    Layout(
        "title_rows_above_header.csv",
        (
            ("Löpnummer", "record_id", lambda p: str(p.number)),
            ("Personnummer", "national_id", lambda p: p.pnr("12")),
            ("Förnamn", "first_name", lambda p: p.first),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Startdatum", "contract_start", lambda p: _iso(p.start)),
            ("Slutdatum", "contract_end", lambda p: _iso(p.end)),
            ("Skyddad identitet", "protected_identity", _flag("X", "")),
        ),
        delimiter=";",
        title_rows=("Hyresgästregister Bostads AB Exempel", "Uttag 2026-11-01", ""),
    ),
    Layout(
        "contract_number_only_id.csv",
        (
            ("Kontraktsnummer", "contract_id", lambda p: p.contract),
            ("Personnummer", "national_id", lambda p: p.pnr("12")),
            ("Förnamn", "first_name", lambda p: p.first),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Kontraktsstart", "contract_start", lambda p: _iso(p.start)),
            ("Kontraktsslut", "contract_end", lambda p: _iso(p.end)),
            ("Sekretessmarkering", "protected_identity", _flag("Sekretess", "")),
        ),
    ),
    Layout(
        "flag_sparr_1_0.tsv",
        (
            ("Rad-ID", "record_id", lambda p: f"R-{p.number}"),
            ("Personnr", "national_id", lambda p: p.pnr("10")),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Förnamn", "first_name", lambda p: p.first),
            ("Inflyttningsdatum", "contract_start", lambda p: _iso(p.start)),
            ("Spärr", "protected_identity", _flag("1", "0")),
        ),
        delimiter="\t",
    ),
    Layout(
        "flag_skyddad_folkbokforing.csv",
        (
            ("Id", "record_id", lambda p: str(1000 + p.number)),
            ("Personnummer", "national_id", lambda p: p.pnr("12-")),
            ("Namn", "full_name", lambda p: f"{p.first} {p.last}"),
            ("Från", "contract_start", lambda p: f"{p.start:%d.%m.%Y}"),
            ("Till", "contract_end", lambda p: f"{p.end:%d.%m.%Y}" if p.end else ""),
            ("Skyddad folkbokföring", "protected_identity", _flag("Skyddad", "")),
        ),
        delimiter=";",
    ),
    Layout(
        "birth_dates_two_percent_bad.csv",
        (
            ("Record ID", "record_id", lambda p: f"B{p.number}"),
            ("National ID", "national_id", lambda p: p.pnr("12")),
            ("Given name", "first_name", lambda p: p.first),
            ("Surname", "last_name", lambda p: p.last),
            ("Date of birth", "birth_date", lambda p: f"{p.birth:%Y%m%d}"),
            ("Move-in", "contract_start", lambda p: _iso(p.start)),
            ("Protected identity", "protected_identity", _flag("yes", "no")),
        ),
        mangle=lambda rng, rows: _bad_birth_dates(rng, rows, 4, 0.02),
    ),
    Layout(
        "mixed_date_formats.csv",
        (
            ("Löpnr", "record_id", lambda p: str(p.number)),
            ("Personnummer", "national_id", lambda p: p.pnr("12")),
            ("Efternamn", "last_name", lambda p: p.last),
            (
                "Fr.o.m.",
                "contract_start",
                lambda p: (f"{p.start:%Y-%m-%d}", f"{p.start:%Y%m%d}", f"{p.start:%d/%m/%Y}")[
                    p.number % 3
                ],
            ),
            ("Skyddad identitet", "protected_identity", _flag("Ja", "")),
        ),
        delimiter=";",
    ),
    Layout(
        "id_forms_and_samordningsnummer.csv",
        (
            ("Löpnr", "record_id", lambda p: str(p.number)),
            (
                "Personnummer/Samordningsnummer",
                "national_id",
                lambda p: p.pnr(("12", "12-", "10", "10-")[p.number % 4]),
            ),
            ("Förnamn", "first_name", lambda p: p.first),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Fr.o.m.", "contract_start", lambda p: _iso(p.start)),
            ("Skyddad identitet", "protected_identity", _flag("JA", "nej")),
        ),
        delimiter=";",
    ),
    Layout(
        "phone_formats.csv",
        (
            ("Löpnr", "record_id", lambda p: str(p.number)),
            ("Personnummer", "national_id", lambda p: p.pnr("12")),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Inflyttning", "contract_start", lambda p: _iso(p.start)),
            (
                "Mobilnummer",
                "phone",
                lambda p: (
                    p.phone,
                    "+46" + p.phone[1:].replace("-", "").replace(" ", ""),
                    "0046 " + p.phone[1:].replace("-", " "),
                    p.phone.replace("-", "").replace(" ", ""),
                )[p.number % 4],
            ),
            ("E-postadress", "email", lambda p: p.email),
            ("Protected", "protected_identity", _flag("X", "")),
        ),
    ),
    Layout(
        "several_sheets.xlsx",
        (
            ("Hyresgäst-ID", "record_id", lambda p: f"H{p.number}"),
            ("Personnummer", "national_id", lambda p: p.pnr("12")),
            ("Förnamn", "first_name", lambda p: p.first),
            ("Efternamn", "last_name", lambda p: p.last),
            ("Gatuadress", "street_address", lambda p: p.street),
            ("Inflyttningsdatum", "contract_start", lambda p: _iso(p.start)),
            ("Skyddad identitet", "protected_identity", _flag("Ja", "Nej")),
        ),
        writer="xlsx",
    ),
    Layout(
        "register_view.sqlite",
        (
            ("lopnr", "record_id", lambda p: str(p.number)),
            ("personnummer", "national_id", lambda p: p.pnr("12")),
            ("fornamn", "first_name", lambda p: p.first),
            ("efternamn", "last_name", lambda p: p.last),
            ("inflyttning", "contract_start", lambda p: _iso(p.start)),
            ("skyddad", "protected_identity", _flag("J", "N")),
        ),
        writer="sqlite",
    ),
)

SQLITE_QUERY = "SELECT * FROM hyresgaster_v"


def _rows(layout: Layout, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = [[value(p) for _, _, value in layout.columns] for p in people(rng, protected=2)]
    if layout.mangle is not None:
        layout.mangle(rng, rows)
    return rows


def _write_csv(layout: Layout, rows: list[list[str]], path: Path) -> None:
    buffer = io.StringIO()
    for title in layout.title_rows:
        buffer.write(title + "\r\n")
    writer = csv.writer(buffer, delimiter=layout.delimiter, lineterminator="\r\n")
    writer.writerow([h for h, _, _ in layout.columns])
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(layout.encoding))


def _write_xlsx(layout: Layout, rows: list[list[str]], path: Path) -> None:
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": datetime(2026, 11, 1)})
    # The register is not the first sheet: a cover sheet comes first, an apartment list after.
    cover = book.add_worksheet("Info")
    cover.write_string(0, 0, "Hyresgästregister, uttag 2026-11-01")
    cover.write_string(1, 0, "Bladet Hyresgäster innehåller registret.")
    sheet = book.add_worksheet("Hyresgäster")
    for col, (header, _, _) in enumerate(layout.columns):
        sheet.write_string(0, col, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    other = book.add_worksheet("Lägenheter")
    for r, (a, b) in enumerate([("Lgh nr", "Yta"), ("1001", "54"), ("1002", "71")]):
        other.write_string(r, 0, a)
        other.write_string(r, 1, b)
    book.close()


def _write_sqlite(layout: Layout, rows: list[list[str]], path: Path) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        names = [h for h, _, _ in layout.columns]
        db.execute(f"CREATE TABLE hyresgaster ({', '.join(f'{n} TEXT' for n in names)}, hyra INT)")
        marks = ", ".join("?" for _ in range(len(names) + 1))
        db.executemany(
            f"INSERT INTO hyresgaster VALUES ({marks})",
            [[v or None for v in row] + [7000] for row in rows],
        )
        db.execute(f"CREATE VIEW hyresgaster_v AS SELECT {', '.join(names)} FROM hyresgaster")
    db.close()


def main() -> None:
    expected: dict[str, dict[str, object]] = {}
    for seed, layout in enumerate(LAYOUTS, start=11):
        rows = _rows(layout, seed)
        path = HERE / layout.name
        {"csv": _write_csv, "xlsx": _write_xlsx, "sqlite": _write_sqlite}[layout.writer](
            layout, rows, path
        )
        expected[layout.name] = {
            "mapping": {f: h for h, f, _ in layout.columns if f is not None},
            "protected_rows": layout.protected,
            "rows": len(rows),
            **({"sql_query": SQLITE_QUERY} if layout.writer == "sqlite" else {}),
        }
    (HERE / "corpus.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
