"""Every route of the app (API and pages) declares the audit actions it leaves, or why it
leaves none (matcher/api/audited.py): a new route in neither table fails here."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from matcher.api.audited import AUDITED, EXEMPT
from matcher.app import create_app
from matcher.core.vocabulary import AuditAction
from matcher.settings import init_data_dir

# What the log covers: a route whose path names one of these must not be exempt.
LOGGED_OBJECTS = ("hit", "reveal", "extract", "user", "compan", "polic", "audit", "request")


def _routes(tmp_path: Path) -> set[str]:
    settings, _ = init_data_dir(tmp_path / "data", None)
    app = create_app(settings)
    found = set()
    for context in iter_route_contexts(app.routes):
        for method in sorted(context.methods or {"GET"}):
            if method != "HEAD":
                found.add(f"{method} {context.path}")
    found |= {f"GET {r.path}" for r in app.routes if isinstance(r, Mount)}
    return found


def test_every_route_declares_its_audit_actions_or_why_it_has_none(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    undeclared = sorted(r for r in routes if r not in AUDITED and r not in EXEMPT)
    assert not undeclared, f"routes with no declared audit action: {undeclared}"
    # No stale declarations either: each names a route that exists.
    assert sorted((set(AUDITED) | set(EXEMPT)) - routes) == []
    assert not set(AUDITED) & set(EXEMPT)


def test_exempt_routes_touch_none_of_the_logged_objects_and_give_a_reason() -> None:
    for route, reason in EXEMPT.items():
        assert reason.strip(), route
        path = route.split(" ", 1)[1]
        assert not any(word in path for word in LOGGED_OBJECTS), route


def test_declared_actions_are_the_vocabulary_and_are_written_somewhere() -> None:
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for p in Path("matcher").rglob("*.py")
        if p.name != "audited.py"
    )
    for route, actions in AUDITED.items():
        assert actions, route
        for action in actions:
            assert isinstance(action, AuditAction)
            # Written through the vocabulary (AuditAction.X) or, in older code, as the string.
            assert f"AuditAction.{action.name}" in sources or f'"{action.value}"' in sources, (
                route,
                action,
            )
