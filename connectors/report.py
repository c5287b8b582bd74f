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
from typing import Any

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


def write_report(report: Report, folder: Path, stem: str = "report") -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.html` into `folder`; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{stem}.json"
    html_path = folder / f"{stem}.html"
    json_path.write_text(
        json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
        encoding="utf-8",
    )
    html = _TEMPLATES.get_template("report.html").render(
        report=report, shown=report.problems[:2000], rows_bad=report.rows_bad
    )
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
