"""Issue 10, item 6, in a real browser: every page each role opens carries the security
headers and runs under the Content-Security-Policy without a single violation (a page whose
script or style the policy blocked would look fine in a test client and broken here)."""

from __future__ import annotations

import pytest

from tests.web.browser import Site, sign_in

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from playwright.sync_api import ConsoleMessage, Page

PAGES = {
    "admin": ["/web/admin/users", "/web/admin/companies", "/web/admin/runs", "/web/admin/policies"],
    "auditor": ["/web/audit", "/web/audit/stats", "/web/audit/checkpoint", "/web/audit/entries/1"],
    "investigator": ["/web/queue", "/web/requests", "/web/approvals", "HIT"],
    "approver": ["/web/approvals", "/web/queue"],
    "data_officer": ["/web/extracts"],
}


def _token(site: Site, role: str) -> str:
    if role == "admin":
        return site.admin_token
    if role == "auditor":
        return site.auditor_token
    company = next(c for c in site.tokens if site.hits.get(c))
    return site.tokens[company][role]


@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_page_keeps_its_headers_and_breaks_no_content_security_rule(
    page: Page, site: Site, role: str
) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto("/web/sign-in")
    # The page's own script reports every CSP violation it sees into the console as well.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('csp violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    sign_in(page, _token(site, role))
    company = next(c for c in site.tokens if site.hits.get(c))
    for path in PAGES[role]:
        if path == "HIT":
            path = f"/web/hits/{site.hits[company][0]['id']}"
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        headers = response.headers
        assert "default-src 'none'" in headers["content-security-policy"], path
        assert "'unsafe-inline'" not in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        # the stylesheet loaded (a blocked one would leave the default body margin of 8px)
        margin = page.evaluate("getComputedStyle(document.body).margin")
        assert margin != "8px", path
    assert problems == []
