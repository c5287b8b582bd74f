"""Charts for the auditor's statistics, drawn as SVG on the server (no JavaScript, no images).

Two shapes are enough: horizontal bars for a count per category, and a grid of small columns
for counts per person per day. Every chart carries a ``<title>`` and ``role="img"`` with an
``aria-label``, and the page shows the same numbers in a table next to it, so the chart is
never the only way to read them. Texts come translated from the template; values are escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "daily_chart"]

_BAR_HEIGHT = 22
_GAP = 6
_LABEL_WIDTH = 190
_WIDTH = 640


def _svg(title: str, width: int, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every value is escaped


def bar_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    empty: str,
    labels: Mapping[str, str] | None = None,
) -> Markup:
    """One horizontal bar per ``(key, count)``, scaled to the largest count; ``labels`` maps
    keys to the (translated) text shown, the key itself otherwise."""
    if not items:
        return _svg(title, _WIDTH, 30, [f'<text x="0" y="20">{escape(empty)}</text>'])
    top = max(max(n for _, n in items), 1)
    room = _WIDTH - _LABEL_WIDTH - 60
    body = []
    for i, (label, count) in enumerate(items):
        y = i * (_BAR_HEIGHT + _GAP)
        length = round(room * count / top)
        body.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape((labels or {}).get(label, label))}</text>"
            f'<rect class="bar" x="{_LABEL_WIDTH}" y="{y}" width="{length}" '
            f'height="{_BAR_HEIGHT}"/>'
            f'<text x="{_LABEL_WIDTH + length + 6}" y="{y + 15}">{count}</text>'
        )
    height = len(items) * (_BAR_HEIGHT + _GAP)
    return _svg(title, _WIDTH, height, body)


def daily_chart(
    title: str, series: Mapping[str, Mapping[date, int]], empty: str, *, days: int = 30
) -> Markup:
    """Counts per person per day over the last ``days`` days that have data: one row of
    columns per person, all rows on the same scale, dates under the last row."""
    all_days = sorted({d for per_day in series.values() for d in per_day})
    if not all_days:
        return _svg(title, _WIDTH, 30, [f'<text x="0" y="20">{escape(empty)}</text>'])
    shown = all_days[-days:]
    top = max(max(per_day.values(), default=0) for per_day in series.values()) or 1
    # Columns at most 28 px wide: one day of data is a column, not a bar across the chart.
    row_height, column = 48, min(28, max(8, (_WIDTH - _LABEL_WIDTH) // max(len(shown), 1)))
    body = []
    for row, (person, per_day) in enumerate(sorted(series.items())):
        base = row * (row_height + _GAP) + row_height
        body.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{base - 4}" text-anchor="end">{escape(person)}</text>'
            f'<line class="axis" x1="{_LABEL_WIDTH}" y1="{base}" '
            f'x2="{_LABEL_WIDTH + column * len(shown)}" y2="{base}"/>'
        )
        for i, day in enumerate(shown):
            count = per_day.get(day, 0)
            if count:
                h = max(2, round((row_height - 8) * count / top))
                body.append(
                    f'<rect class="bar" x="{_LABEL_WIDTH + i * column + 1}" y="{base - h}" '
                    f'width="{column - 2}" height="{h}"><title>{escape(person)} '
                    f"{day.isoformat()}: {count}</title></rect>"
                )
    bottom = len(series) * (row_height + _GAP) + 14
    body.append(f'<text x="{_LABEL_WIDTH}" y="{bottom}">{shown[0].isoformat()}</text>')
    if len(shown) > 1:
        body.append(
            f'<text x="{_LABEL_WIDTH + column * len(shown)}" y="{bottom}" text-anchor="end">'
            f"{shown[-1].isoformat()}</text>"
        )
    return _svg(title, _WIDTH, bottom + 6, body)
