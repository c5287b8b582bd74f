"""The reader: formats, encodings, delimiters, row numbers and the bad-input files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy
from stdnum.se import personnummer

from connectors.errors import ExportError
from connectors.extract import (
    RAW_ROW_COLUMN,
    SourceOptions,
    delimiter_hint,
    read_export,
    read_sample,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- CSV: encodings ------------------------------------------------------------------------


def test_semicolon_windows_1252_file_is_detected_and_decoded() -> None:
    raw = read_export(DATA / "good_semicolon_cp1252.csv", SourceOptions())

    assert raw.detected.format == "csv"
    assert raw.detected.encoding == "windows-1252"
    assert raw.detected.delimiter == ";"
    assert raw.frame.columns[1:4] == ["Löpnr", "Kontraktsnr", "Personnummer"]
    assert raw.frame.height == 12
    # The quoted address keeps its semicolon instead of splitting the row.
    assert "Ågatan 12; uppgång B" in raw.frame.get_column("Gatuadress").to_list()
    assert all(dtype == pl.String for dtype in raw.frame.drop(RAW_ROW_COLUMN).dtypes)


def test_utf8_comma_file_keeps_quoted_commas_and_line_breaks() -> None:
    raw = read_export(DATA / "good_english.csv", SourceOptions())

    assert (raw.detected.encoding, raw.detected.delimiter) == ("utf-8", ",")
    addresses = raw.frame.get_column("Street address").to_list()
    assert "Kungsgatan 3, lgh 1102" in addresses
    assert "Östgötagatan 9\nc/o Ström" in addresses
    # Rows are records as a person counts them in a spreadsheet: header = 1, then 2..13.
    assert raw.frame.get_column(RAW_ROW_COLUMN).to_list() == list(range(2, 14))
    assert raw.frame.schema[RAW_ROW_COLUMN] == pl.UInt32


def test_bom_is_detected_and_never_ends_up_in_a_column_name(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", "\ufeffPnr;Namn\n198001011234;Åsa\n".encode())

    raw = read_export(path, SourceOptions())
    explicit = read_export(path, SourceOptions(encoding="utf-8"))

    assert raw.detected.encoding == "utf-8-sig"
    assert raw.frame.columns[1:] == ["Pnr", "Namn"]
    assert explicit.frame.columns[1:] == ["Pnr", "Namn"]


def test_latin_1_is_used_when_set(tmp_path: Path) -> None:
    path = write(tmp_path, "l1.csv", "Namn,Ort\nÅsa,Linköping\n".encode("latin-1"))

    raw = read_export(path, SourceOptions(encoding="latin-1"))

    assert raw.detected.encoding == "latin-1"
    assert raw.frame.row(0) == (2, "Åsa", "Linköping")


def test_windows_1252_only_characters_are_decoded(tmp_path: Path) -> None:
    # "–" (0x96) and "’" (0x92) exist in Windows-1252 but not in Latin-1.
    path = write(tmp_path, "w.csv", "Namn;Not\nÅsa;O’Brien – test\n".encode("windows-1252"))

    raw = read_export(path, SourceOptions())

    assert raw.detected.encoding == "windows-1252"
    assert raw.frame.get_column("Not").to_list() == ["O’Brien – test"]


def test_undeclared_windows_1252_is_refused_when_utf8_is_set() -> None:
    with pytest.raises(ExportError) as caught:
        read_export(DATA / "bad_cp1252_undeclared.csv", SourceOptions(encoding="utf-8"))

    message = str(caught.value)
    assert "line 1" in message  # "Löpnr" in the header already fails
    assert "Windows-1252" in message
    assert 'encoding = "windows-1252"' in message


def test_undeclared_windows_1252_reads_fine_with_auto() -> None:
    raw = read_export(DATA / "bad_cp1252_undeclared.csv", SourceOptions())

    assert raw.detected.encoding == "windows-1252"
    assert "Förnamn" in raw.frame.columns


def test_decoding_error_names_the_line(tmp_path: Path) -> None:
    text = "Pnr,Namn\n1,Anna\n2,Eva\n3,Sören\n".encode("windows-1252")
    path = write(tmp_path, "late.csv", text)

    with pytest.raises(ExportError, match="line 4"):
        read_export(path, SourceOptions(encoding="utf-8"))


# --- CSV: delimiters, rows, shapes ---------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    rows = ["Pnr", "Namn", "Adress"], ["1", "Anna", "Storgatan 1"], ["2", "Eva", "Ågatan 2"]
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    path = write(tmp_path, "d.csv", text.encode())

    raw = read_export(path, SourceOptions())

    assert raw.detected.delimiter == delimiter
    assert raw.frame.columns[1:] == ["Pnr", "Namn", "Adress"]


def test_delimiter_detection_is_not_fooled_by_quoted_commas(tmp_path: Path) -> None:
    # Every line has more commas (inside quotes) than semicolons.
    text = 'Id;Adress\n1;"Gata 1, a, b, c"\n2;"Gata 2, a, b, c"\n'
    path = write(tmp_path, "q.csv", text.encode())

    raw = read_export(path, SourceOptions())

    assert raw.detected.delimiter == ";"
    assert raw.frame.get_column("Adress").to_list() == ["Gata 1, a, b, c", "Gata 2, a, b, c"]


def test_explicit_delimiter_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b"a|b\n1|2\n")

    raw = read_export(path, SourceOptions(delimiter="|"))

    assert raw.frame.columns[1:] == ["a", "b"]
    assert raw.detected.delimiter == "|"


def test_pipe_file_reads_as_one_column_so_the_mapping_can_name_the_delimiter() -> None:
    raw = read_export(DATA / "bad_wrong_delimiter.csv", SourceOptions())

    header = raw.frame.columns[1:]
    assert len(header) == 1
    hint = delimiter_hint(header)
    assert hint is not None and "'|'" in hint and 'delimiter = "|"' in hint


def test_blank_lines_and_crlf_do_not_shift_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", b"Id;Namn\r\n1;Anna\r\n\r\n3;Eva\r\n;\r\n")

    raw = read_export(path, SourceOptions())

    assert raw.frame.rows() == [(2, "1", "Anna"), (4, "3", "Eva")]


def test_classic_mac_line_endings_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "cr.csv", b"Id;Namn\r1;Anna\r2;Eva\r")

    raw = read_export(path, SourceOptions())

    assert raw.frame.rows() == [(2, "1", "Anna"), (3, "2", "Eva")]


def test_header_lower_down_in_a_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "Hyresgäster 2024\n\nId;Namn\n1;Anna\n".encode())

    raw = read_export(path, SourceOptions(header_row=3))

    assert raw.frame.rows() == [(4, "1", "Anna")]
    assert raw.detected.header_row == 3
    assert raw.preview[0] == ("Hyresgäster 2024",)


def test_ragged_row_is_reported_with_its_row_number(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", b"Id,Namn\n1,Anna\n2,Eva,extra\n")

    with pytest.raises(ExportError, match="row 3 has 3 fields but the header has 2"):
        read_export(path, SourceOptions())


def test_empty_file_is_refused() -> None:
    with pytest.raises(ExportError, match="the file is empty"):
        read_export(DATA / "empty.csv", SourceOptions())


def test_header_only_gives_an_empty_frame_with_the_columns() -> None:
    raw = read_export(DATA / "header_only.csv", SourceOptions())

    assert raw.frame.height == 0
    assert "National ID" in raw.frame.columns
    assert RAW_ROW_COLUMN in raw.frame.columns


def test_preview_holds_at_most_ten_raw_rows() -> None:
    raw = read_export(DATA / "good_semicolon_cp1252.csv", SourceOptions())

    assert len(raw.preview) == 10
    assert raw.preview[0][0] == "Löpnr"
    assert raw.preview[1][:2] == ("1", "K-10000")


def test_read_sample_stops_after_the_requested_rows() -> None:
    raw = read_sample(DATA / "good_english.csv", SourceOptions(), rows=3)

    assert raw.frame.height == 3
    assert raw.frame.get_column(RAW_ROW_COLUMN).to_list() == [2, 3, 4]


# --- XLSX ----------------------------------------------------------------------------------


def test_xlsx_first_sheet_numbers_and_dates_come_out_as_typed_text() -> None:
    raw = read_export(DATA / "good_hyresgaster.xlsx", SourceOptions())

    assert raw.detected.format == "xlsx"
    assert raw.detected.sheet == "Hyresgäster"
    ids = raw.frame.get_column("Personnr").to_list()
    # Typed as numbers in Excel: whole, 12 digits, no ".0", and valid.
    assert all(len(i) == 12 and i.isdigit() and personnummer.is_valid(i) for i in ids)
    starts = raw.frame.get_column("Inflyttning").to_list()
    assert all(date.fromisoformat(s) for s in starts)
    assert raw.frame.get_column("Postnummer").str.len_chars().to_list() == [5] * 12
    assert None in raw.frame.get_column("Avflyttning").to_list()  # ongoing contracts
    assert raw.frame.get_column(RAW_ROW_COLUMN).to_list() == list(range(2, 14))


def test_xlsx_header_on_row_3() -> None:
    raw = read_export(DATA / "bad_header_row3.xlsx", SourceOptions(header_row=3))

    assert raw.frame.columns[1:3] == ["ID", "Personnr"]
    assert raw.frame.height == 8
    assert raw.frame.get_column(RAW_ROW_COLUMN).to_list()[0] == 4


def test_xlsx_preview_shows_the_title_rows() -> None:
    raw = read_export(DATA / "bad_header_row3.xlsx", SourceOptions())

    assert raw.preview[0][0] == "Hyresgästregister Linbo AB"
    assert raw.preview[2][:2] == ("ID", "Personnr")


def test_xlsx_unknown_sheet_names_the_sheets_there_are() -> None:
    with pytest.raises(ExportError, match="'Hyresgäster'"):
        read_export(DATA / "good_hyresgaster.xlsx", SourceOptions(sheet="Blad1"))


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "two.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Info").write_string(0, 0, "nothing here")
    sheet = workbook.add_worksheet("Kontrakt")
    sheet.write_row(0, 0, ["Id", "Belopp", "Tid"])
    sheet.write_row(1, 0, ["1", 12.5])
    sheet.write_datetime(
        1, 2, datetime(2023, 4, 1, 12, 30), workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    )
    workbook.close()

    raw = read_export(path, SourceOptions(sheet="Kontrakt"))

    assert raw.frame.row(0) == (2, "1", "12.5", "2023-04-01 12:30:00")


# --- Parquet and SQL -----------------------------------------------------------------------


def test_parquet_columns_become_text_by_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pl.DataFrame(
        {
            "pnr": [198001011234.0, None],
            "belopp": [12.5, 3.0],
            "start": [date(2023, 4, 1), date(2024, 1, 31)],
            "stamp": [datetime(2023, 4, 1), datetime(2023, 4, 1, 8, 5, 9)],
            "andrahand": [True, False],
            "nr": [7, 8],
        }
    ).write_parquet(path)

    raw = read_export(path, SourceOptions())

    assert raw.detected.format == "parquet"
    assert raw.frame.rows() == [
        (2, "198001011234", "12.5", "2023-04-01", "2023-04-01", "true", "7"),
        (3, None, "3", "2024-01-31", "2023-04-01 08:05:09", "false", "8"),
    ]
    assert raw.preview[0] == ("pnr", "belopp", "start", "stamp", "andrahand", "nr")


def test_sql_source_reads_a_real_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("CREATE TABLE kontrakt (lopnr INTEGER, pnr REAL, namn TEXT, fom TEXT)")
        )
        for n in range(1, 6):
            connection.execute(
                sqlalchemy.text("INSERT INTO kontrakt VALUES (:n, :p, :namn, :fom)"),
                {"n": n, "p": 198001011230.0 + n, "namn": f"Åsa {n}", "fom": "2023-04-01"},
            )
    engine.dispose()
    options = SourceOptions(
        format="sql", sql_url=url, sql_query="SELECT lopnr, pnr, namn, fom FROM kontrakt"
    )

    raw = read_export(None, options)
    sample = read_sample(None, options, rows=2)

    assert raw.detected.format == "sql"
    assert raw.frame.row(0) == (2, "1", "198001011231", "Åsa 1", "2023-04-01")
    assert raw.frame.height == 5
    assert sample.frame.height == 2


def test_sql_errors_do_not_echo_the_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nothing.db'}"
    options = SourceOptions(format="sql", sql_url=url, sql_query="SELECT * FROM missing")

    with pytest.raises(ExportError, match="no such table") as caught:
        read_export(None, options)
    assert url not in str(caught.value)


def test_sql_needs_url_and_query() -> None:
    with pytest.raises(ExportError, match="sql_url and sql_query"):
        read_export(None, SourceOptions(format="sql"))


# --- what the reader refuses ---------------------------------------------------------------


def test_missing_file_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        read_export(tmp_path / "nope.csv", SourceOptions())


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="expected one of"):
        read_export(write(tmp_path, "a.csv", b"a\n1\n"), SourceOptions(format="json"))


def test_binary_file_of_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="expected CSV, XLSX or Parquet"):
        read_export(write(tmp_path, "blob.bin", b"\x00\x01\x02\x03rest"), SourceOptions())


def test_header_row_beyond_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="header_row = 9"):
        read_export(write(tmp_path, "s.csv", b"a,b\n1,2\n"), SourceOptions(header_row=9))


# --- the bad-input files do what README.md says they do ------------------------------------


def test_bad_invalid_ids_has_more_than_five_percent_invalid_ids() -> None:
    ids = read_export(DATA / "bad_invalid_ids.csv", SourceOptions()).frame["National ID"]
    invalid = sum(not personnummer.is_valid(i) for i in ids)

    assert invalid / len(ids) > 0.05


def test_bad_duplicate_ids_has_more_than_five_percent_duplicates() -> None:
    ids = read_export(DATA / "bad_duplicate_ids.csv", SourceOptions()).frame["Record ID"]

    assert (len(ids) - ids.n_unique()) / len(ids) > 0.05


def test_bad_date_format_has_no_iso_dates() -> None:
    starts = read_export(DATA / "bad_date_format.csv", SourceOptions()).frame["Start date"]

    assert all(" " in s and not s[:4].isdigit() for s in starts)


def test_bad_missing_required_has_no_national_id_column() -> None:
    columns = read_export(DATA / "bad_missing_required.csv", SourceOptions()).frame.columns

    assert "Personnummer" not in columns and "Löpnr" in columns


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("good_semicolon_cp1252.csv", "Personnummer"),
        ("good_english.csv", "National ID"),
        ("bad_wrong_delimiter.csv", None),
    ],
)
def test_good_files_hold_only_valid_personnummer(name: str, column: str | None) -> None:
    raw = read_export(DATA / name, SourceOptions(delimiter="|" if column is None else "auto"))
    ids = raw.frame["Personnummer" if column is None else column]

    assert all(personnummer.is_valid(i) for i in ids)
