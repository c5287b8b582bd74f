"""Journeys through the web pages in a real browser (Chromium), against `matcher serve`.

One journey per role that exists in phase 1 (admin, data officer, investigator), plus the
refusals a user or an attacker would run into: another company's hit by URL, a form without
the CSRF token, a forged session cookie; and the language switch.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from matcher.cli.main import main as matcher_main
from tests.web.browser import Site, screenshot, sign_in

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from playwright.sync_api import BrowserContext, Page, expect


def test_admin_creates_a_user_sees_the_token_once_and_revokes_it(
    page: Page, context: BrowserContext, site: Site
) -> None:
    sign_in(page, site.admin_token)
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    screenshot(page, "admin-users")

    page.get_by_label("Name", exact=True).fill("ada-auditor")
    page.get_by_label("Role").select_option("auditor")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("User ada-auditor created")
    token = page.get_by_label("API token").input_value()
    assert token.startswith("cc_")
    screenshot(page, "admin-user-created")

    # The token is on the result page only: not in the list, not on a reload of the list.
    page.get_by_role("link", name="Back to the users").click()
    assert token not in page.content()
    row = page.get_by_role("row").filter(has_text="ada-auditor")
    expect(row).to_contain_text("Active")

    # The new user can sign in with it (in another browser profile) ...
    other = context.browser.new_context(base_url=site.url, locale="en-GB")  # type: ignore[union-attr]
    visitor = other.new_page()
    sign_in(visitor, token)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Welcome, ada-auditor")

    # ... until the admin revokes it: then the open session ends too.
    row.get_by_role("button", name="Revoke ada-auditor").click()
    # it asks once more before it ends someone's access
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke ada-auditor?")
    page.get_by_role("button", name="Revoke ada-auditor now").click()
    expect(page.get_by_role("row").filter(has_text="ada-auditor")).to_contain_text("Revoked")
    visitor.goto("/web/home")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Sign in")
    sign_in(visitor, token)
    expect(visitor.get_by_text("This token is unknown or revoked")).to_be_visible()
    other.close()


def test_admin_sees_companies_and_runs(page: Page, site: Site) -> None:
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="Companies").click()
    for company in site.tokens:
        expect(page.get_by_role("cell", name=company, exact=True)).to_be_visible()
    # A bad key is reported next to its field, and what was typed stays in the form.
    page.get_by_label("Company id (as in the connector's profile)").fill("newco")
    page.get_by_label("Name", exact=True).fill("New Co")
    page.get_by_label("Signing public key (PEM)").fill("not a key")
    page.get_by_role("button", name="Add company").click()
    expect(page.locator("#signing_key-error")).to_contain_text("not an Ed25519 public key")
    expect(page.get_by_label("Name", exact=True)).to_have_value("New Co")

    page.get_by_role("link", name="Matching runs").click()
    expect(page.get_by_role("row").nth(1)).to_contain_text("Succeeded")
    expect(page.get_by_role("row").nth(1)).to_contain_text("concurrent-first-hand")
    screenshot(page, "admin-runs")


def test_data_officer_sees_the_own_extract(page: Page, site: Site) -> None:
    company = next(iter(site.tokens))
    sign_in(page, site.tokens[company]["data_officer"])
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Extracts of {company}")
    row = page.get_by_role("row").nth(1)
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text(str(site.row_counts[company]))
    expect(row).to_contain_text("2026-11-01")
    expect(row).to_contain_text(f"{company}-data_officer")
    # Only the own company's extract: one row.
    expect(page.get_by_role("row")).to_have_count(2)
    screenshot(page, "data-officer-extracts")


def test_investigator_filters_the_queue_and_opens_a_hit_with_its_timeline(
    page: Page, site: Site
) -> None:
    company = max(site.hits, key=lambda c: len(site.hits[c]))
    hits = site.hits[company]
    assert hits
    # Keyboard only: tab to the token field, type, press Enter.
    page.goto("/web/sign-in")
    page.get_by_label("API token").focus()
    page.keyboard.type(site.tokens[company]["investigator"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    expect(page.locator("#total")).to_have_text(str(len(hits)))
    screenshot(page, "queue", readme=True)

    strong = [h for h in hits if h["band"] == "strong"]
    page.get_by_label("Strength").select_option("strong")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#total")).to_have_text(str(len(strong)))
    expect(page.get_by_label("Strength")).to_have_value("strong")

    # Oldest first: the first row is the lowest id of the first run.
    first = min(strong, key=lambda h: h["id"])
    page.get_by_role("link", name=f"Hit {first['id']}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hit {first['id']}")
    expect(page.locator("main")).to_contain_text(first["counterpart_company"])
    expect(page.locator("main")).to_contain_text(
        f"{first['overlap_start']} – {first['overlap_end']}"
    )
    # The rule in plain words comes from the policy's own text.
    expect(page.locator("main")).to_contain_text("overlap by at least 92 days")
    timeline = page.locator("svg.timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator("rect.tl-overlap")).to_have_count(1)
    expect(timeline.locator("rect.tl-own")).to_have_count(1)
    expect(timeline.locator("title").first).to_have_text(f"Contract periods of hit {first['id']}")
    # Never a score and never the counterpart's reference.
    assert "score" not in page.content().lower()
    screenshot(page, "hit", readme=True)


def test_an_investigator_of_a_third_company_gets_404_for_another_companys_hit(
    page: Page, site: Site
) -> None:
    companies = list(site.tokens)
    for outsider in companies:
        foreign = [
            h
            for c in companies
            if c != outsider
            for h in site.hits[c]
            if h["counterpart_company"] != outsider
        ]
        if foreign:
            break
    assert foreign, "the seeded data has a hit between two companies"
    sign_in(page, site.tokens[outsider]["investigator"])
    response = page.goto(f"/web/hits/{foreign[0]['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert foreign[0]["own_ref"] not in page.content()
    assert "Traceback" not in page.content()
    screenshot(page, "not-found")


def test_a_form_without_the_csrf_token_is_refused(
    page: Page, context: BrowserContext, site: Site
) -> None:
    sign_in(page, site.admin_token)
    page.goto("/web/admin/users")
    # What a forged form on another site would send: the session cookie but not the token.
    page.locator("form.stack input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_label("Name", exact=True).fill("mallory")
    page.get_by_label("Role").select_option("admin")  # no role is preselected
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form refused")
    screenshot(page, "csrf-refused")
    response = context.request.post("/web/admin/users", form={"name": "mallory", "role": "admin"})
    assert response.status == 403
    page.goto("/web/admin/users")
    expect(page.get_by_role("row").filter(has_text="mallory")).to_have_count(0)


def test_a_forged_session_cookie_is_refused(
    page: Page, context: BrowserContext, site: Site
) -> None:
    # A cookie claiming to be user 1 (the admin), with a signature made up by the attacker.
    payload = (
        base64.urlsafe_b64encode(
            json.dumps({"c": "x" * 43, "l": "en", "u": 1, "s": 1e12, "t": 1e12}).encode()
        )
        .decode()
        .rstrip("=")
    )
    context.add_cookies(
        [{"name": "crosscheck_session", "value": f"{payload}.forgedsignature", "url": site.url}]
    )
    page.goto("/web/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert "Users" not in page.get_by_role("heading").all_inner_texts()


def test_the_language_switch_changes_the_page_text(browser_sv: BrowserContext) -> None:
    page = browser_sv.new_page()
    page.goto("/web/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    page.get_by_label("Språk").select_option("en")
    page.get_by_role("button", name="Byt språk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # The choice stays for the session.
    page.reload()
    expect(page.get_by_role("button", name="Change language")).to_be_visible()
    assert re.search(r"Logga in", page.content()) is None


def _exported(site: Site, tmp_path: Path) -> list[dict[str, Any]]:
    """The entries of `matcher audit export` of the running matcher's data directory."""
    assert site.data_dir is not None
    out = tmp_path / "audit.jsonl"
    assert (
        matcher_main(["audit", "export", "--data-dir", str(site.data_dir), "--out", str(out)]) == 0
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if "seq" in line]


def _api_actor(site: Site, token: str) -> dict[str, Any]:
    """The actor the API's entries name for ``token`` (read back from its own hit.list)."""
    with httpx.Client(base_url=site.url) as client:
        assert client.get("/v1/hits", headers={"Authorization": f"Bearer {token}"}).is_success
        entries = client.get(
            "/v1/audit/entries",
            params={"action": "hit.list"},
            headers={"Authorization": f"Bearer {site.auditor_token}"},
        ).json()["items"]
    return dict(entries[-1]["actor"])


def test_an_investigator_opening_the_queue_and_a_hit_leaves_hit_list_and_hit_read(
    page: Page, site: Site, tmp_path: Path
) -> None:
    company = next(c for c in sorted(site.hits) if site.hits[c])
    token = site.tokens[company]["investigator"]
    actor = _api_actor(site, token)
    start = max(e["seq"] for e in _exported(site, tmp_path))
    sign_in(page, token)
    page.goto("/web/queue")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    hit_id = site.hits[company][0]["id"]
    page.goto(f"/web/hits/{hit_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    new = [e for e in _exported(site, tmp_path) if e["seq"] > start]
    listed = [e for e in new if e["action"] == "hit.list"]
    read = [e for e in new if e["action"] == "hit.read"]
    assert listed and read, [e["action"] for e in new]
    assert listed[-1]["actor"] == actor and listed[-1]["object"] == {"company": company}
    assert read[-1]["actor"] == actor
    assert read[-1]["object"] == {"hit": str(hit_id), "company": company}


def test_an_admin_adding_and_revoking_a_user_in_the_browser_leaves_the_entries(
    page: Page, site: Site, tmp_path: Path
) -> None:
    start = max(e["seq"] for e in _exported(site, tmp_path))
    sign_in(page, site.admin_token)
    page.get_by_label("Name", exact=True).fill("log-checked-auditor")
    page.get_by_label("Role").select_option("auditor")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("User log-checked-auditor created")
    page.get_by_role("link", name="Back to the users").click()
    row = page.get_by_role("row").filter(has_text="log-checked-auditor")
    row.get_by_role("button", name="Revoke log-checked-auditor").click()
    page.get_by_role("button", name="Revoke log-checked-auditor now").click()
    expect(page.get_by_role("row").filter(has_text="log-checked-auditor")).to_contain_text(
        "Revoked"
    )

    new = [e for e in _exported(site, tmp_path) if e["seq"] > start]
    [created] = [e for e in new if e["action"] == "user.create"]
    [revoked] = [e for e in new if e["action"] == "user.revoke"]
    assert created["actor"]["role"] == "admin" and created["actor"]["id"] != "anonymous"
    assert revoked["actor"] == created["actor"]
    assert created["outcome"] == {"result": "allowed", "reason": "role auditor"}
    assert revoked["object"] == created["object"]  # the same user, by opaque id
    # The admin's user id is the one of the initial admin (the first entry of the log).
    assert created["actor"]["id"] == _exported(site, tmp_path)[0]["object"]["user"]


def test_a_failed_sign_in_in_the_browser_is_an_access_denied_entry(
    page: Page, site: Site, tmp_path: Path
) -> None:
    start = max(e["seq"] for e in _exported(site, tmp_path))
    sign_in(page, "cc_not-a-token-anyone-holds")
    expect(page.get_by_text("This token is unknown or revoked")).to_be_visible()
    new = [e for e in _exported(site, tmp_path) if e["seq"] > start]
    denied = [e for e in new if e["action"] == "access.denied"]
    assert denied[-1]["actor"] == {"id": "anonymous", "role": "anonymous", "company": None}
    assert denied[-1]["outcome"] == {"result": "denied", "reason": "unauthenticated"}
    # an anonymous refusal is tallied per source, route and minute; the export writes the tally
    assert denied[-1]["object"]["route"] == "POST /web/sign-in"
    assert denied[-1]["object"]["count"] == "1"
