"""The hit timeline: both contract periods and their overlap as an SVG picture, made on the server.

Only what the hit page may show goes in: the own company's contract period (its own data) and,
for the counterpart, nothing beyond the overlap the hit already states. The counterpart's bar is
solid over the overlap and dashed outside it, labelled as not known before a reveal, so the
picture can not be read as more than the API says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

__all__ = ["Period", "timeline_svg"]

_WIDTH = 720
_LEFT = 190  # room for the row labels
_RIGHT = 20
_ROW = 46
_TOP = 34


@dataclass(frozen=True)
class Period:
    """A contract period, both days inclusive; ``end`` None means ongoing."""

    start: date
    end: date | None


def _x(day: date, first: date, last: date) -> float:
    span = max((last - first).days, 1)
    return _LEFT + (_WIDTH - _LEFT - _RIGHT) * (day - first).days / span


def _end_text(end: date | None, ongoing: str) -> str:
    return end.isoformat() if end is not None else ongoing


def timeline_svg(
    own: Period | None,
    overlap: Period,
    today: date,
    labels: Mapping[str, str],
) -> Markup:
    """An accessible inline SVG. ``labels`` holds the translated texts: ``title``, ``own``,
    ``own_unknown``, ``counterpart``, ``overlap``, ``unknown``, ``ongoing``."""
    overlap_end = overlap.end or today
    own_end = None if own is None else (own.end or today)
    starts = [overlap.start] + ([own.start] if own is not None else [])
    ends = [overlap_end] + ([own_end] if own_end is not None else [])
    # A margin on both sides leaves room for the dashed "unknown" parts of the counterpart.
    margin = timedelta(days=max(60, (max(ends) - min(starts)).days // 8))
    first, last = min(starts) - margin, max(ends) + margin
    height = _TOP + 3 * _ROW + 10

    def x(day: date) -> str:
        return f"{_x(day, first, last):.1f}"

    def bar(start: date, end: date, y: int, css: str, title: str | None) -> str:
        width = f"{_x(end, first, last) - _x(start, first, last):.1f}"
        inner = f"<title>{escape(title)}</title>" if title else ""
        return (
            f'<rect x="{x(start)}" y="{y}" width="{width}" height="20" class="{css}">{inner}</rect>'
        )

    own_text = (
        escape(labels["own_unknown"])
        if own is None
        else escape(f"{own.start.isoformat()} – {_end_text(own.end, labels['ongoing'])}")
    )
    overlap_text = f"{overlap.start.isoformat()} – {overlap_end.isoformat()}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" aria-labelledby="tl-title tl-desc">',
        f'<title id="tl-title">{escape(labels["title"])}</title>',
        f'<desc id="tl-desc">{escape(labels["own"])}: {own_text}. '
        f"{escape(labels['overlap'])}: {overlap_text}.</desc>",
    ]
    # Year ticks, so the lengths can be read without hovering.
    for year in range(first.year + 1, last.year + 1):
        tick = x(date(year, 1, 1))
        parts.append(
            f'<line x1="{tick}" x2="{tick}" y1="{_TOP - 14}" y2="{height - 6}" class="tl-tick"/>'
            f'<text x="{tick}" y="{_TOP - 18}" class="tl-year" text-anchor="middle">{year}</text>'
        )
    rows = [labels["own"], labels["counterpart"], labels["overlap"]]
    for i, text in enumerate(rows):
        y = _TOP + i * _ROW + 24
        parts.append(f'<text x="8" y="{y}" class="tl-label">{escape(text)}</text>')
    y_own, y_cp, y_ov = (_TOP + i * _ROW + 9 for i in range(3))
    if own is not None and own_end is not None:
        parts.append(bar(own.start, own_end, y_own, "tl-own", f"{labels['own']}: {own_text}"))
    else:
        parts.append(f'<text x="{_LEFT}" y="{y_own + 15}" class="tl-note">{own_text}</text>')
    # Counterpart: dashed over the whole axis (not known), solid over the overlap (known).
    parts.append(bar(first, last, y_cp, "tl-unknown", labels["unknown"]))
    parts.append(bar(overlap.start, overlap_end, y_cp, "tl-counterpart", None))
    parts.append(
        bar(overlap.start, overlap_end, y_ov, "tl-overlap", f"{labels['overlap']}: {overlap_text}")
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
