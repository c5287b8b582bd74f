"""The SQL source against real servers (MariaDB and PostgreSQL): a table and a view, Swedish
characters, NULLs, dates as DATE and as text. Each test makes its own uniquely named table and
view and drops them. Skipped, saying why, when the server's URL is not in the environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from connectors.extract import SourceOptions, read_export

SERVERS = {
    "mariadb": "CROSSCHECK_TEST_MARIADB_URL",
    "postgresql": "CROSSCHECK_TEST_DATABASE_URL",
}


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """(URL, table, view), created with three rows and dropped afterwards."""
    variable = SERVERS[request.param]
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set: no {request.param} server to test the SQL source on")
    if request.param == "mariadb":
        pytest.importorskip("pymysql", reason="pip install .[connector-mariadb]")
    suffix = uuid.uuid4().hex[:10]
    table, view = f"hyresgaster_{suffix}", f"hyresgaster_v_{suffix}"
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.execute(sa.text(
            f"CREATE TABLE {table} (lopnr INTEGER, pnr VARCHAR(13), efternamn VARCHAR(40), "
            "fran DATE, till_text VARCHAR(10), skyddad VARCHAR(3))"
        ))  # fmt: skip
        db.execute(
            sa.text(f"INSERT INTO {table} VALUES (:a, :b, :c, :d, :e, :f)"),
            [
                {"a": 1, "b": "197003121234", "c": "Åkesson", "d": date(2020, 1, 1),
                 "e": None, "f": "Nej"},
                {"a": 2, "b": "198811307130", "c": "Öberg-Sjö", "d": date(2022, 5, 1),
                 "e": "2025-01-31", "f": None},
                {"a": 3, "b": None, "c": None, "d": None, "e": None, "f": "Ja"},
            ],
        )  # fmt: skip
        db.execute(sa.text(f"CREATE VIEW {view} AS SELECT * FROM {table} WHERE lopnr < 3"))
    try:
        yield url, table, view
    finally:
        with engine.begin() as db:
            db.execute(sa.text(f"DROP VIEW IF EXISTS {view}"))
            db.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def _read(url: str, query: str) -> list[dict[str, str | None]]:
    raw = read_export(None, SourceOptions(format="sql", sql_url=url, sql_query=query))
    return raw.frame.drop(raw.frame.columns[0]).to_dicts()


def test_a_table_reads_with_swedish_characters_nulls_and_dates(
    server: tuple[str, str, str],
) -> None:
    url, table, _ = server
    rows = _read(
        url, f"SELECT lopnr, efternamn, fran, till_text, skyddad FROM {table} ORDER BY lopnr"
    )
    assert [r["efternamn"] for r in rows] == ["Åkesson", "Öberg-Sjö", None]
    assert [r["fran"] for r in rows][:2] == ["2020-01-01", "2022-05-01"]
    assert rows[2]["fran"] is None
    assert [r["till_text"] for r in rows] == [None, "2025-01-31", None]
    assert [r["lopnr"] for r in rows] == ["1", "2", "3"]


def test_a_view_reads_like_a_table(server: tuple[str, str, str]) -> None:
    url, _, view = server
    rows = _read(url, f"SELECT lopnr, efternamn FROM {view} ORDER BY lopnr")
    assert rows == [
        {"lopnr": "1", "efternamn": "Åkesson"},
        {"lopnr": "2", "efternamn": "Öberg-Sjö"},
    ]
