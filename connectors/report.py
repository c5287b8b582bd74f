"""The validation report a data officer reads: what was read, what was accepted, what was
excluded and why, row by row.

The report stays at the company (it may show values from the register); it is written as
``report.json`` (machine-readable) and ``report.html`` (for people) next to the package, or into
the workspace's ``reports/`` folder when no package is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import jinja2
import polars as pl

from connectors.record import EXCLUSION_REASONS

__all__ = [
    "MAX_PROBLEMS",
    "NOT_ERRORS",
    "Report",
    "build_report",
    "check_report_stem",
    "write_report",
]

# Exclusions that are the rules working as intended, not signs of a wrong mapping.
NOT_ERRORS = frozenset({"protected_identity", "minor"})

# A report lists at most this many problems; the counts stay exact.
MAX_PROBLEMS = 100_000


@dataclass(frozen=True)
class Report:
    company_id: str
    source: str
    as_of: str
    created_at: str
    detected: Mapping[str, Any]
    rows_read: int
    rows_accepted: int
    rows_excluded: Mapping[str, int]
    warnings: int
    error_rate: float
    max_error_rate: float
    problems: Sequence[Mapping[str, Any]]
    problems_total: int
    status: str = "ok"  # ok | stopped
    stop_reason: str | None = None
    package: Mapping[str, Any] | None = field(default=None)

    @property
    def rows_bad(self) -> int:
        return sum(n for reason, n in self.rows_excluded.items() if reason not in NOT_ERRORS)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_excluded"] = dict(self.rows_excluded)
        data["problems"] = [dict(p) for p in self.problems]
        return data

    def stopped(self, reason: str) -> Report:
        return Report(**{**asdict(self), "status": "stopped", "stop_reason": reason})

    def with_package(self, package: Mapping[str, Any]) -> Report:
        return Report(**{**asdict(self), "package": dict(package)})


def build_report(
    normalised: pl.DataFrame,
    *,
    company_id: str,
    source: str,
    as_of: str,
    created_at: str,
    detected: Mapping[str, Any],
    max_error_rate: float,
) -> Report:
    """Summarise a normalised frame (all rows, with `exclusion` and `problems`)."""
    rows_read = normalised.height
    counts = (
        normalised.filter(pl.col("exclusion").is_not_null())
        .group_by("exclusion")
        .len()
        .sort("exclusion")
    )
    excluded = {reason: 0 for reason in EXCLUSION_REASONS}
    for reason, n in counts.iter_rows():
        excluded[str(reason)] = int(n)
    problems = (
        normalised.select("row", "problems")
        .explode("problems")
        .drop_nulls("problems")
        .unnest("problems")
        .sort("row", maintain_order=True)
    )
    warnings = problems.filter(pl.col("severity") == "warning").height
    listed = problems.head(MAX_PROBLEMS).select(
        "row", "column", "reason", "expected", "value", "severity"
    )
    bad = sum(n for reason, n in excluded.items() if reason not in NOT_ERRORS)
    return Report(
        company_id=company_id,
        source=source,
        as_of=as_of,
        created_at=created_at,
        detected=dict(detected),
        rows_read=rows_read,
        rows_accepted=rows_read - sum(excluded.values()),
        rows_excluded=excluded,
        warnings=warnings,
        error_rate=(bad / rows_read) if rows_read else 0.0,
        max_error_rate=max_error_rate,
        problems=listed.to_dicts(),
        problems_total=problems.height,
    )


def check_report_stem(report: Report) -> str:
    """File stem for a report written outside a package: check-YYYYMMDD-HHMMSS."""
    digits = "".join(ch for ch in report.created_at[:19] if ch.isdigit())
    return f"check-{digits[:8]}-{digits[8:14]}"


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("connectors", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


# report.html's words. Swedish by default: the data officers who read it work in Swedish, and
# the profile's [report] language = "en" switches it.
LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "sv": {
        "title": "valideringsrapport", "heading": "Valideringsrapport", "as_of": "utdrag per",
        "note": "Rapporten stannar hos er. Den kan visa värden ur ert register; inget i den "
        "skickas till matchningstjänsten.",
        "status": "Status", "accepted": "godkänt, paket skrivet", "stopped": "stoppat",
        "summary": "Sammanfattning", "source": "Källa", "detected": "Läst som",
        "rows_read": "Rader lästa", "rows_accepted": "Rader godkända",
        "rows_bad": "Rader med fel", "limit": "gräns",
        "warnings": "Varningar (raden behålls, värdet tas bort)", "created": "Skapad",
        "excluded": "Uteslutna rader per orsak", "reason": "Orsak", "rows": "Rader",
        "package": "Paket", "problems": "Problem", "first": "de första", "shown": "visas",
        "in_json": "finns i report.json", "row": "Rad", "column": "Kolumn",
        "problem": "Problem", "expected": "Förväntat", "value": "Värde", "effect": "Följd",
        "row_excluded": "raden utesluten", "value_dropped": "värdet borttaget",
        "no_problems": "Inga problem hittades.", "format": "format", "encoding": "teckenkodning",
        "delimiter": "avgränsare", "sheet": "blad", "header_row": "rubrikrad",
    },
    "en": {
        "title": "validation report", "heading": "Validation report", "as_of": "extract as of",
        "note": "This report stays at your company. It may show values from your register; "
        "nothing in it is sent to the matcher.",
        "status": "Status", "accepted": "accepted, package written", "stopped": "stopped",
        "summary": "Summary", "source": "Source", "detected": "Detected",
        "rows_read": "Rows read", "rows_accepted": "Rows accepted",
        "rows_bad": "Rows with errors", "limit": "limit",
        "warnings": "Warnings (row kept, value dropped)", "created": "Created",
        "excluded": "Excluded rows by reason", "reason": "Reason", "rows": "Rows",
        "package": "Package", "problems": "Problems", "first": "first", "shown": "shown",
        "in_json": "are in report.json", "row": "Row", "column": "Column",
        "problem": "Problem", "expected": "Expected", "value": "Value", "effect": "Effect",
        "row_excluded": "row excluded", "value_dropped": "value dropped",
        "no_problems": "No problems found.", "format": "format", "encoding": "encoding",
        "delimiter": "delimiter", "sheet": "sheet", "header_row": "header row",
    },
}  # fmt: skip


def _detected(detected: Mapping[str, object], words: Mapping[str, str]) -> str:
    """ "format csv · encoding utf-8 · delimiter ";"": unset entries left out, the delimiter
    quoted (a bare ; next to the list's separator read as ";;")."""
    parts = []
    for key, value in detected.items():
        if value is None:
            continue
        shown = {"\t": "tab"}.get(str(value), f'"{value}"') if key == "delimiter" else str(value)
        parts.append(f"{words.get(key, key)} {shown}")
    return " · ".join(parts)


def write_report(
    report: Report, folder: Path, stem: str = "report", *, language: str = "sv"
) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.html` (in `language`, sv or en) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{stem}.json"
    html_path = folder / f"{stem}.html"
    json_path.write_text(
        json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
        encoding="utf-8",
    )
    html = _TEMPLATES.get_template("report.html").render(
        report=report,
        shown=report.problems[:2000],
        rows_bad=report.rows_bad,
        lang=language,
        t=LABELS[language],
        detected=_detected(report.detected, LABELS[language]),
    )
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
