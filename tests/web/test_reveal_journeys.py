"""The four-eyes reveal through the web pages in a real browser, and the auditor checking it.

One journey across four people: the investigator requests a reveal of a hit, the approver at
the counterpart company (as the shipped policy says) approves, the investigator reads the
disclosure and records an outcome, and the auditor finds all of it in the log, checks one
entry's inclusion proof and verifies the whole log. Plus the admin's policies page. Each page
action must leave the same audit entries as the API action; the journey checks them through
the API.
"""

from __future__ import annotations

import re

import httpx
import pytest

from matcher.actions.runs import SHIPPED_POLICY
from tests.web.browser import Site, screenshot, sign_in

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from playwright.sync_api import Browser, BrowserContext, Page, expect

CASE = "WEB-2026-0007"
JUSTIFICATION = (
    "Both contracts are first-hand homes and overlap by months; we need the addresses and "
    "contract dates to ask the tenant."
)


def _person(browser: Browser, site: Site, token: str) -> tuple[BrowserContext, Page]:
    ctx = browser.new_context(
        base_url=site.url, locale="en-GB", viewport={"width": 1200, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    sign_in(page, token)
    return ctx, page


def test_reveal_approve_disclose_outcome_and_audit(browser: Browser, site: Site) -> None:
    company = max(site.hits, key=lambda c: len(site.hits[c]))
    hit = site.hits[company][-1]  # not the hit the queue journey opens
    counterpart = hit["counterpart_company"]
    investigator_ctx, investigator = _person(browser, site, site.tokens[company]["investigator"])

    # --- the investigator asks, first with a justification the policy finds too short.
    investigator.goto(f"/web/hits/{hit['id']}")
    form = investigator.locator("form[action$='/reveal-requests']")
    fields = form.locator("input[type=checkbox][name=fields]")
    # nothing is pre-checked: the investigator asks only for what the case needs
    expect(fields.first).not_to_be_checked()
    shown_fields = fields.count()
    assert shown_fields >= 5
    expect(form).to_contain_text("Justification (at least 40 characters)")
    # an empty submit names every missing field at once, with a summary at the top
    investigator.get_by_role("button", name="Request the reveal").click()
    expect(investigator.get_by_role("alert").first).to_contain_text("correct the fields marked")
    for error in ("#purpose-error", "#case_reference-error", "#justification-error"):
        expect(investigator.locator(error)).to_be_visible()
    form = investigator.locator("form[action$='/reveal-requests']")
    fields = form.locator("input[type=checkbox][name=fields]")
    for i in range(shown_fields):
        fields.nth(i).check()
    investigator.get_by_label("Purpose").fill("Check a possible second first-hand contract")
    investigator.get_by_label("Case reference").fill(CASE)
    investigator.get_by_label(re.compile("^Justification")).fill("too short")
    investigator.get_by_role("button", name="Request the reveal").click()
    expect(investigator.locator("#justification-error")).to_contain_text(
        "shorter than the policy requires"
    )
    expect(investigator.get_by_label("Case reference")).to_have_value(CASE)
    investigator.get_by_label(re.compile("^Justification")).fill(JUSTIFICATION)
    screenshot(investigator, "request-reveal")
    investigator.get_by_role("button", name="Request the reveal").click()
    expect(investigator.get_by_role("heading", level=1)).to_have_text("My reveal requests")
    row = investigator.get_by_role("row").filter(has_text=CASE)
    expect(row).to_contain_text("Waiting for approval")
    screenshot(investigator, "my-requests")

    # --- the approver at the requester's own company may not decide (policy: counterpart).
    own_ctx, own_approver = _person(browser, site, site.tokens[company]["approver"])
    expect(own_approver.get_by_role("heading", level=1)).to_have_text("Requests to decide")
    expect(own_approver.locator("main")).not_to_contain_text(CASE)
    own_ctx.close()

    # --- the approver at the counterpart company decides; a reason is required.
    approver_ctx, approver = _person(browser, site, site.tokens[counterpart]["approver"])
    expect(approver.get_by_role("heading", level=1)).to_have_text("Requests to decide")
    request = approver.locator("section.decide").filter(has_text=CASE)
    expect(request).to_contain_text(JUSTIFICATION)
    expect(request).to_contain_text(f"Hit {hit['id']}")
    screenshot(approver, "approvals")
    request.get_by_role("button", name="Approve").click()
    request = approver.locator("section.decide").filter(has_text=CASE)
    expect(request.locator(".field-error")).to_contain_text("Give the reason")
    request.get_by_label("Reason for your decision").fill("Purpose and case fit the policy.")
    request.get_by_role("button", name="Approve").click()
    expect(approver.get_by_role("status")).to_have_text("Your decision has been recorded.")
    expect(approver.locator("main")).not_to_contain_text(CASE)
    approver_ctx.close()

    # --- the investigator reads the disclosure: both records side by side.
    investigator.goto("/web/requests")
    row = investigator.get_by_role("row").filter(has_text=CASE)
    expect(row).to_contain_text("Approved")
    expect(row).to_contain_text("left")
    row.get_by_role("link", name="Read the disclosure").click()
    expect(investigator.get_by_role("heading", level=1)).to_have_text(
        f"Disclosure for hit {hit['id']}"
    )
    expect(investigator.locator("main")).to_contain_text("A hit is a lead, not a verdict.")
    table = investigator.locator("table.side-by-side")
    expect(table.locator("thead th")).to_have_count(3)
    expect(table.locator("thead")).to_contain_text(f"{company} (your record)")
    expect(table.locator("thead")).to_contain_text(f"{counterpart} (counterpart)")
    expect(table.locator("tbody tr")).to_have_count(shown_fields)
    expect(table.get_by_role("row", name=re.compile("^Contract start"))).to_be_visible()
    screenshot(investigator, "disclosure", readme=True)

    # --- and records the outcome: a sub-reason only goes with "explained".
    investigator.goto(f"/web/hits/{hit['id']}")
    investigator.get_by_label("Outcome", exact=True).select_option("data_error")
    investigator.get_by_label(re.compile("^What explained it")).select_option("co_tenant")
    investigator.get_by_role("button", name="Record the outcome").click()
    expect(investigator.locator("#reason-error")).to_contain_text("leave it empty")
    investigator.get_by_label("Outcome", exact=True).select_option("no_issue_explained")
    investigator.get_by_label(re.compile("^What explained it")).select_option("notice_period_move")
    investigator.get_by_label(re.compile("^Note")).fill("Moved out within the notice period.")
    investigator.get_by_role("button", name="Record the outcome").click()
    history = investigator.get_by_role("table", name=re.compile("Outcomes your company"))
    expect(history).to_contain_text("No issue: explained")
    expect(history).to_contain_text("Moved during the notice period")
    expect(
        investigator.get_by_role("table", name=re.compile("Reveal requests of your company"))
    ).to_contain_text("Approved")
    investigator_ctx.close()

    # --- the auditor finds all of it in the log ...
    auditor_ctx, auditor = _person(browser, site, site.auditor_token)
    auditor.get_by_role("link", name="Audit log").first.click()
    auditor.get_by_label("Case reference").fill(CASE)
    auditor.get_by_role("button", name="Filter").click()
    rows = auditor.locator("tbody tr")
    expect(rows.filter(has_text="reveal.request").filter(has_text="denied")).to_contain_text(
        "justification_too_short"
    )
    expect(rows.filter(has_text="reveal.request").filter(has_text="allowed")).to_have_count(1)
    expect(rows.filter(has_text="reveal.approve")).to_have_count(1)
    expect(rows.filter(has_text="disclosure.read")).to_have_count(1)
    screenshot(auditor, "audit-log")
    auditor.get_by_label("Case reference").fill("")
    auditor.get_by_label("Action").fill("hit.outcome")
    auditor.get_by_label("Company").fill(counterpart)
    auditor.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_text=f"hit={hit['id']}")).to_contain_text("notice_period_move")

    # ... checks one entry's inclusion proof against the signed checkpoint ...
    auditor.get_by_label("Action").fill("disclosure.read")
    auditor.get_by_label("Company").fill("")
    auditor.get_by_label("Case reference").fill(CASE)
    auditor.get_by_role("button", name="Filter").click()
    rows.first.get_by_role("link").click()
    expect(auditor.locator("#proof-result")).to_contain_text("Verified: entry")
    expect(auditor.locator("main")).to_contain_text('"action":"disclosure.read"')
    assert auditor.locator("ol.proof li").count() >= 1
    screenshot(auditor, "audit-entry")

    # ... and verifies the whole log against the checkpoint.
    auditor.get_by_role("link", name="Checkpoint").first.click()
    expect(auditor.locator("pre.note").first).to_contain_text("— ")
    auditor.get_by_role("button", name="Verify the whole log").click()
    expect(auditor.locator("#verify-result")).to_contain_text("The log is intact")
    expect(auditor.locator("#verify-result")).to_contain_text("OK: ")
    screenshot(auditor, "audit-verify")

    auditor.get_by_role("link", name="Statistics").first.click()
    expect(auditor.locator("svg.chart")).to_have_count(4)
    expect(auditor.get_by_role("img", name="Outcomes recorded")).to_contain_text(
        "No issue: explained"
    )
    screenshot(auditor, "audit-stats", readme=True)
    # Per approver: how many requests they approved and denied (docs/approver.md).
    decided_rows = [
        row.split() for row in auditor.locator("#decisions-per-approver tbody tr").all_inner_texts()
    ]
    auditor_ctx.close()

    # The page actions left the API's entries: the same actions, actors and request id.
    with httpx.Client(base_url=site.url) as client:
        entries = client.get(
            "/v1/audit/entries",
            params={"case_reference": CASE},
            headers={"Authorization": f"Bearer {site.auditor_token}"},
        ).json()["items"]
    by_action = {(e["action"], e["outcome"]["result"]): e for e in entries}
    filed = by_action[("reveal.request", "allowed")]
    assert filed["actor"]["role"] == "investigator" and filed["actor"]["company"] == company
    assert filed["fields"] and filed["request_id"]
    approved = by_action[("reveal.approve", "allowed")]
    assert approved["actor"]["company"] == counterpart
    # The approver's reason is in the decision's entry (docs/approver.md).
    assert approved["outcome"]["reason"] == "Purpose and case fit the policy."
    [approver_row] = [r for r in decided_rows if r[0] == approved["actor"]["id"]]
    assert int(approver_row[1]) >= 1  # approved
    read = by_action[("disclosure.read", "allowed")]
    assert read["request_id"] == filed["request_id"] == approved["request_id"]
    assert read["fields"] == filed["fields"]


def test_admin_checks_activates_and_retires_a_policy(page: Page, site: Site) -> None:
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Policies")
    expect(page.get_by_role("row").filter(has_text="concurrent-tenancy")).to_contain_text("Active")
    shipped = SHIPPED_POLICY.read_text(encoding="utf-8")

    # A broken file: every problem with its key path, next to the field; no activate button.
    broken = shipped.replace("approvals_required = 1", "approvals_required = 0")
    page.get_by_label("Policy file (TOML)").fill(broken)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#policy-error")).to_contain_text("reveal.approvals_required")
    expect(page.get_by_role("button", name=re.compile("^Activate"))).to_have_count(0)
    screenshot(page, "admin-policy-problems")

    # The shipped file checks clean; activating it again changes nothing (same digest, even
    # though the browser sent its line breaks as CRLF).
    page.get_by_label("Policy file (TOML)").fill(shipped)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#check-result")).to_contain_text("No problems found")
    page.get_by_role("button", name="Activate concurrent-tenancy").click()
    expect(page.get_by_role("status")).to_contain_text("nothing changed")

    # A second policy is activated, then retired: runs can not use it any more.
    other = shipped.replace('id = "concurrent-tenancy"', 'id = "web-test-policy"', 1)
    page.get_by_label("Policy file (TOML)").fill(other)
    page.get_by_role("button", name="Check", exact=True).click()
    page.get_by_role("button", name="Activate web-test-policy").click()
    expect(page.get_by_role("status")).to_contain_text("web-test-policy is now active")
    page.get_by_role("button", name="Retire web-test-policy").click()
    expect(page.get_by_role("status")).to_contain_text("web-test-policy is retired")
    expect(page.get_by_role("row").filter(has_text="web-test-policy")).to_contain_text("Retired")
    screenshot(page, "admin-policies")
