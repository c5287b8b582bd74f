"""The sample alert rules and Grafana dashboard in deploy/ parse and name only metrics that
`/metrics` exports (a renamed metric would silently turn an alert off)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parents[2] / "deploy"
METRICS_SOURCE = Path(__file__).parents[2] / "matcher" / "api" / "metrics.py"
_NAME = re.compile(r"\bcrosscheck_[a-z_]+")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _exported() -> set[str]:
    return set(re.findall(r'"(crosscheck_[a-z_]+)"', METRICS_SOURCE.read_text(encoding="utf-8")))


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_alert_rules_parse_and_name_exported_metrics() -> None:
    yaml = pytest.importorskip("yaml")
    rules = yaml.safe_load((DEPLOY / "crosscheck-alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 8
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["alert"].startswith("Crosscheck") and rule["annotations"]["summary"]
    named = {_base(n) for e in exprs for n in _NAME.findall(e)}
    assert named and named <= _exported(), named - _exported()


def test_dashboard_parses_and_names_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "crosscheck-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = {_base(n) for e in exprs for n in _NAME.findall(e)}
    assert named <= _exported(), named - _exported()
    # Every exported metric is on the dashboard.
    assert _exported() <= named, _exported() - named
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
