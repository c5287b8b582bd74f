"""Regenerate the small export files in tests/data (the good ones and the bad inputs).

Run from the repository root: ``.venv/bin/python tests/data/make_data.py``. Everything is seeded,
so the files come out byte-identical every time (the XLSX files too: xlsxwriter is given a fixed
creation date). The people are fake; their personnummer are valid (correct Luhn digit) unless the
point of the file is that they are not. See README.md next to this script for what each file is
meant to provoke.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import xlsxwriter

__all__ = ["main", "personnummer"]

HERE = Path(__file__).resolve().parent

HEADER_A = [
    "Löpnr",
    "Kontraktsnr",
    "Personnummer",
    "Förnamn",
    "Efternamn",
    "Gatuadress",
    "Postnr",
    "Ort",
    "Lgh nr",
    "Objekttyp",
    "Fr.o.m.",
    "T.o.m.",
    "Telefon",
    "E-post",
    "Roll",
    "Andrahandsuthyrning godkänd",
    "Skyddad identitet",
]
HEADER_B = [
    "ID",
    "Personnr",
    "Namn",
    "Adress",
    "Postnummer",
    "Postort",
    "Lägenhetsnummer",
    "Kontraktsnummer",
    "Inflyttning",
    "Avflyttning",
    "Objekttyp",
    "Mobil",
    "Epost",
    "Skyddad",
]
HEADER_C = [
    "Record ID",
    "National ID",
    "First name",
    "Last name",
    "Street address",
    "Postal code",
    "City",
    "Apartment no",
    "Contract no",
    "Start date",
    "End date",
    "Contract type",
    "Phone",
    "Email",
    "Tenant role",
    "Sublet approved",
    "Protected identity",
]

FIRST = ["Anna", "Åsa", "Björn", "Sören", "Märta", "Lars", "Eva", "Göran", "Maria", "Jörgen"]
LAST = ["Andersson", "Öberg", "Johansson", "Ström", "Karlsson", "Nilsson", "Åkesson", "Lindqvist"]
STREETS = [
    ("Ågatan", "58223", "Linköping"),
    ("Drottninggatan", "58225", "Linköping"),
    ("Kungsgatan", "60233", "Norrköping"),
    ("Östgötagatan", "60221", "Norrköping"),
]
TYPES_SV = ["Bostad", "Bostad", "Bostad", "Bilplats", "Förråd"]
_ASCII = str.maketrans("åäöé", "aaoe")
TYPES_EN = ["residential", "residential", "residential", "parking", "storage"]


def luhn_digit(digits: str) -> int:
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def personnummer(born: date, serial: int, *, long: bool, valid: bool = True) -> str:
    """A personnummer for `born`: YYMMDD-NNNC (long=False) or YYYYMMDDNNNC (long=True)."""
    short = f"{born:%y%m%d}{serial:03d}"
    check = luhn_digit(short)
    if not valid:
        check = (check + 3) % 10
    if long:
        return f"{born:%Y%m%d}{serial:03d}{check}"
    return f"{born:%y%m%d}-{serial:03d}{check}"


class Person:
    def __init__(self, rng: random.Random, index: int, *, long_id: bool) -> None:
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 64 * 365))
        self.national_id = personnummer(born, rng.randrange(1, 999), long=long_id)
        self.born = born
        self.first = rng.choice(FIRST)
        self.last = rng.choice(LAST)
        street, postal, city = rng.choice(STREETS)
        self.street = f"{street} {rng.randrange(1, 60)}"
        self.postal, self.city = postal, city
        self.apartment = f"{rng.randrange(10, 14)}{rng.randrange(1, 9):02d}"
        self.contract = f"K-{10000 + index}"
        self.start = date(2015, 1, 1) + timedelta(days=rng.randrange(0, 9 * 365))
        ended = rng.random() < 0.3
        self.end = self.start + timedelta(days=rng.randrange(200, 2000)) if ended else None
        kind = rng.randrange(len(TYPES_SV))
        self.type_sv, self.type_en = TYPES_SV[kind], TYPES_EN[kind]
        self.phone = f"070-{rng.randrange(1000000, 9999999)}"
        local = f"{self.first}.{self.last}".lower().translate(_ASCII)
        self.email = f"{local}{index}@example.se"
        self.co_tenant = rng.random() < 0.15
        self.sublet = rng.random() < 0.1
        self.protected = rng.random() < 0.05


def people(seed: int, count: int, *, long_id: bool) -> list[Person]:
    rng = random.Random(seed)
    return [Person(rng, i, long_id=long_id) for i in range(count)]


def row_a(n: int, p: Person) -> list[str]:
    return [
        str(n),
        p.contract,
        p.national_id,
        p.first,
        p.last,
        p.street,
        p.postal[:3] + " " + p.postal[3:],
        p.city,
        p.apartment,
        p.type_sv,
        p.start.isoformat(),
        p.end.isoformat() if p.end else "",
        p.phone,
        p.email,
        "Medhyresgäst" if p.co_tenant else "Hyresgäst",
        "Ja" if p.sublet else "Nej",
        "Ja" if p.protected else "",
    ]


def row_c(n: int, p: Person, *, start: str | None = None) -> list[str]:
    return [
        f"R{n:05d}",
        p.national_id,
        p.first,
        p.last,
        p.street,
        p.postal,
        p.city,
        p.apartment,
        p.contract,
        start if start is not None else p.start.isoformat(),
        p.end.isoformat() if p.end else "",
        p.type_en,
        p.phone,
        p.email,
        "co_tenant" if p.co_tenant else "primary",
        "yes" if p.sublet else "no",
        "yes" if p.protected else "no",
    ]


def csv_text(header: list[str], rows: list[list[str]], delimiter: str, newline: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csvs() -> None:
    # A: semicolon, Windows-1252, CRLF, 10-digit ids with '-'; one address quoted because it
    # holds the delimiter, as Excel writes it.
    rows = [row_a(i + 1, p) for i, p in enumerate(people(1, 12, long_id=False))]
    rows[3][5] = "Ågatan 12; uppgång B"
    text = csv_text(HEADER_A, rows, ";", "\r\n")
    (HERE / "good_semicolon_cp1252.csv").write_bytes(text.encode("windows-1252"))

    # C: comma, UTF-8, 12-digit ids; one address with a comma, one with a line break.
    rows = [row_c(i + 1, p) for i, p in enumerate(people(2, 12, long_id=True))]
    rows[2][4] = "Kungsgatan 3, lgh 1102"
    rows[5][4] = "Östgötagatan 9\nc/o Ström"
    (HERE / "good_english.csv").write_text(csv_text(HEADER_C, rows, ",", "\n"), "utf-8")

    rows = [row_a(i + 1, p) for i, p in enumerate(people(3, 10, long_id=False))]
    (HERE / "bad_wrong_delimiter.csv").write_text(csv_text(HEADER_A, rows, "|", "\n"), "utf-8")

    rows = [row_a(i + 1, p) for i, p in enumerate(people(4, 10, long_id=False))]
    text = csv_text(HEADER_A, rows, ";", "\r\n")
    (HERE / "bad_cp1252_undeclared.csv").write_bytes(text.encode("windows-1252"))

    header = [h for h in HEADER_A if h != "Personnummer"]
    rows = [row_a(i + 1, p) for i, p in enumerate(people(5, 10, long_id=False))]
    rows = [r[:2] + r[3:] for r in rows]
    (HERE / "bad_missing_required.csv").write_text(csv_text(header, rows, ";", "\n"), "utf-8")

    # 4 of 20 ids (20 %) with a wrong check digit: well over the 5 % limit.
    persons = people(6, 20, long_id=True)
    rows = [row_c(i + 1, p) for i, p in enumerate(persons)]
    for i in (2, 7, 11, 16):
        rows[i][1] = personnummer(persons[i].born, 123, long=True, valid=False)
    (HERE / "bad_invalid_ids.csv").write_text(csv_text(HEADER_C, rows, ",", "\n"), "utf-8")

    months = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti"]
    persons = people(7, 10, long_id=True)
    rows = [
        row_c(i + 1, p, start=f"{p.start.day} {months[p.start.month % 8]} {p.start.year}")
        for i, p in enumerate(persons)
    ]
    (HERE / "bad_date_format.csv").write_text(csv_text(HEADER_C, rows, ",", "\n"), "utf-8")

    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "header_only.csv").write_text(csv_text(HEADER_C, [], ",", "\n"), "utf-8")

    # 4 of 20 rows (20 %) repeat an earlier record id.
    rows = [row_c(i + 1, p) for i, p in enumerate(people(8, 20, long_id=True))]
    for i, j in ((5, 1), (9, 2), (13, 3), (18, 4)):
        rows[i][0] = rows[j][0]
    (HERE / "bad_duplicate_ids.csv").write_text(csv_text(HEADER_C, rows, ",", "\n"), "utf-8")


def write_workbook(path: Path, persons: list[Person], title_rows: list[str]) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    # Fixed metadata date: the file is byte-identical on every run.
    workbook.set_properties({"created": datetime(2024, 1, 1)})
    sheet = workbook.add_worksheet("Hyresgäster")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for index, title in enumerate(title_rows):
        sheet.write_string(index, 0, title)
    top = len(title_rows)
    sheet.write_row(top, 0, HEADER_B)
    for offset, p in enumerate(persons, start=1):
        r = top + offset
        sheet.write_string(r, 0, str(offset))
        # Typed as a number, as people do in Excel: the reader must give "198001011234" back.
        sheet.write_number(r, 1, int(p.national_id))
        sheet.write_string(r, 2, f"{p.first} {p.last}")
        sheet.write_string(r, 3, p.street)
        sheet.write_number(r, 4, int(p.postal))
        sheet.write_string(r, 5, p.city)
        sheet.write_string(r, 6, p.apartment)
        sheet.write_string(r, 7, p.contract)
        sheet.write_datetime(r, 8, datetime.combine(p.start, datetime.min.time()), date_format)
        if p.end is not None:
            sheet.write_datetime(r, 9, datetime.combine(p.end, datetime.min.time()), date_format)
        sheet.write_string(r, 10, p.type_sv)
        sheet.write_string(r, 11, p.phone)
        sheet.write_string(r, 12, p.email)
        if p.protected:
            sheet.write_string(r, 13, "X")
    workbook.close()


def write_workbooks() -> None:
    write_workbook(HERE / "good_hyresgaster.xlsx", people(9, 12, long_id=True), [])
    write_workbook(
        HERE / "bad_header_row3.xlsx",
        people(10, 8, long_id=True),
        ["Hyresgästregister Linbo AB", "Uttag 2024-03-31"],
    )


def main() -> None:
    write_csvs()
    write_workbooks()


if __name__ == "__main__":
    main()
