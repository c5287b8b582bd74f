"""The role guides' claims about the audit log match the code (docs/*.md).

Claims checked elsewhere: that pages, API and console leave the same entries
(tests/matcher/actions/test_door_parity.py, tests/web/test_reveal_pages.py), that the queue and
a hit page leave hit.list / hit.read, that admin pages leave user.create / user.revoke, that a
refused web sign-in is access.denied, that the approver's reason is in the decision's entry and
that the statistics page shows per-approver counts (tests/web/test_journeys.py,
tests/web/test_reveal_journeys.py). Here: the guides name exactly the actions the code has, and
the statistics the auditor's guide explains are the ones /v1/audit/stats returns.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from matcher.core.vocabulary import AuditAction
from matcher.store.statistics import statistics
from matcher.store.tables import metadata

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ("investigator", "approver", "auditor", "operator", "data-officer")


def test_the_auditors_table_names_every_action_and_no_other() -> None:
    text = (DOCS / "auditor.md").read_text(encoding="utf-8")
    table = text.split("## 1. What is logged", 1)[1].split("An entry has exactly", 1)[0]
    named = set(re.findall(r"`([a-z_]+\.[a-z_]+|purge)`", table)) - {"outcome.reason"}
    assert named == {a.value for a in AuditAction}


def test_the_guides_name_only_actions_the_code_writes() -> None:
    known = {a.value for a in AuditAction}
    for guide in GUIDES:
        text = (DOCS / f"{guide}.md").read_text(encoding="utf-8")
        named = set(
            re.findall(
                r"`((?:hit|reveal|user|company|upload|policy|run|audit|extract|disclosure|"
                r"subject|access)\.(?:list|read|create|revoke|accept|reject|activate|retire|"
                r"start|finish|request|approve|deny|expire|outcome|report|denied|checkpoint|"
                r"entries|proof|stats|export|verify))`",
                text,
            )
        )
        assert named <= known, (guide, sorted(named - known))


def test_the_statistics_the_auditors_guide_explains_are_the_ones_returned() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.connect() as conn:
        returned = set(statistics(conn, datetime(2026, 12, 1, tzinfo=UTC))) - {"as_of"}
    text = (DOCS / "auditor.md").read_text(encoding="utf-8")
    section = text.split("## 5. Statistics", 1)[1].split("\n## ", 1)[0]
    explained = set(re.findall(r"^\* `([a-z_]+)`(?:, `([a-z_]+)`)?", section, re.MULTILINE))
    names = {n for pair in explained for n in pair if n}
    assert names == returned
