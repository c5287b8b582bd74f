"""The hit timeline SVG: bars where the dates are, nothing more than the hit says, escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

from matcher.web.timeline import Period, timeline_svg

LABELS = {
    "title": "Contract periods of hit 1",
    "own": "Your contract",
    "own_unknown": "Your contract period is not available",
    "counterpart": "Counterpart's contract",
    "overlap": "Overlap",
    "unknown": "Not known before a reveal",
    "ongoing": "ongoing",
}
NS = "{http://www.w3.org/2000/svg}"


def _rects(svg: str) -> dict[str, tuple[float, float]]:
    root = ET.fromstring(svg)
    return {
        r.get("class", ""): (float(r.get("x", "0")), float(r.get("width", "0")))
        for r in root.iter(f"{NS}rect")
    }


def test_the_overlap_lies_inside_the_own_contract_and_the_counterpart_bar() -> None:
    svg = timeline_svg(
        Period(date(2020, 1, 1), date(2025, 12, 31)),
        Period(date(2024, 1, 1), date(2024, 12, 31)),
        date(2026, 11, 1),
        LABELS,
    )
    rects = _rects(str(svg))
    own, overlap, known = rects["tl-own"], rects["tl-overlap"], rects["tl-counterpart"]
    assert own[0] < overlap[0] and overlap[0] + overlap[1] < own[0] + own[1]
    assert known == overlap  # the counterpart is known exactly over the overlap
    # One year of overlap is about a sixth of the six-year own contract.
    assert 0.14 < overlap[1] / own[1] < 0.19
    years = re.findall(r'class="tl-year"[^>]*>(\d{4})<', str(svg))
    assert "2024" in years


def test_an_ongoing_contract_runs_to_today_and_says_so() -> None:
    svg = str(
        timeline_svg(
            Period(date(2025, 1, 1), None),
            Period(date(2025, 6, 1), date(2026, 11, 1)),
            date(2026, 11, 1),
            LABELS,
        )
    )
    rects = _rects(svg)
    own, overlap = rects["tl-own"], rects["tl-overlap"]
    assert abs((own[0] + own[1]) - (overlap[0] + overlap[1])) < 0.2
    assert "2025-01-01 – ongoing" in svg


def test_without_the_own_period_only_the_overlap_is_drawn() -> None:
    svg = str(
        timeline_svg(None, Period(date(2025, 6, 1), date(2025, 12, 1)), date(2026, 1, 1), LABELS)
    )
    assert "tl-own" not in _rects(svg)
    assert "Your contract period is not available" in svg


def test_labels_are_escaped() -> None:
    labels = {**LABELS, "own": "<script>alert(1)</script>"}
    svg = str(
        timeline_svg(None, Period(date(2025, 1, 1), date(2025, 6, 1)), date(2026, 1, 1), labels)
    )
    assert "<script>" not in svg
    ET.fromstring(svg)  # still well-formed
