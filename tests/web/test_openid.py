"""Signing in through an organisation's OpenID provider, in Chromium, against a real provider.

The provider is panva/oidc-provider on Node.js (tests/oidc/provider.mjs), configured as one
broker for the three companies: a ``company`` claim says whose person it is, ``groups`` the
role; this service requires a second factor (``acr``). A second issuer entry reaches the same
provider through a proxy that tampers with the ID token (tests/oidc/peer.py). The matcher is a
real `matcher serve` with three companies' data, and personal tokens are switched off on the
sign-in page, as they are by default once a provider is configured.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.server import free_port
from matcher.web.csrf import FIELD as CSRF_FIELD
from tests.oidc.peer import (
    OpenIdPeer,
    TamperProxy,
    new_key,
    require_node,
    running_peer,
    tamper_proxy,
)
from tests.web.browser import Site
from tests.web.conftest import built_site

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from playwright.sync_api import Browser, BrowserContext, Page, expect

CLIENT_ID = "crosscheck"
CLIENT_SECRET = "test-client-secret-not-for-production-0123456789"
COMPANIES = ("linbo", "norrhem", "motabo")
GROUPS = {
    "investigator": "cc-investigators",
    "approver": "cc-approvers",
    "data_officer": "cc-data-officers",
    "auditor": "cc-auditors",
    "admin": "cc-admins",
    "company_admin": "cc-company-admins",
}
HOMES = {
    "investigator": "/web/queue",
    "approver": "/web/approvals",
    "data_officer": "/web/extracts",
    "auditor": "/web/home",
    "admin": "/web/admin/users",
    "company_admin": "/web/admin/users",
}


def _account(login: str, role: str, company: str | None) -> dict[str, Any]:
    claims: dict[str, Any] = {"preferred_username": login, "name": login, "groups": [GROUPS[role]]}
    if company is not None:
        claims["company"] = company
    return claims


def _accounts() -> dict[str, dict[str, Any]]:
    found = {}
    for company in COMPANIES:
        for role in ("investigator", "approver", "data_officer", "company_admin"):
            found[f"{role}-{company}"] = _account(f"{role}-{company}", role, company)
    found["auditor-central"] = _account("auditor-central", "auditor", None)
    found["admin-central"] = _account("admin-central", "admin", None)
    found["stranger"] = {"preferred_username": "stranger", "groups": ["somewhere-else"]}
    for spare in ("leaver", "revoked", "mover", "rotator", "forger", "ended", "demoted"):
        found[spare] = _account(spare, "investigator", "linbo")
    return found


def _settings(peer: OpenIdPeer, proxy: TamperProxy, secret: Path) -> str:
    company_map = ", ".join(f'"{c}" = "{c}"' for c in COMPANIES)
    role_map = ", ".join(f'"{group}" = "{role}"' for role, group in GROUPS.items())
    common = f"""issuer = "{peer.issuer}"
client_id = "{CLIENT_ID}"
client_secret_file = "{secret}"
scopes = ["openid", "profile", "crosscheck"]
company_claim = "company"
company_map = {{ {company_map} }}
role_claim = "groups"
role_map = {{ {role_map} }}
require_acr = ["urn:crosscheck:mfa"]
recheck_seconds = 1
"""
    return f"""token_sign_in = false

[[openid_issuers]]
name = "broker"
label = "Test broker"
{common}
[[openid_issuers]]
name = "tampered"
label = "Tampered broker"
metadata_url = "{proxy.url}/.well-known/openid-configuration"
{common}"""


@pytest.fixture(scope="module")
def provider_site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Site, OpenIdPeer, TamperProxy]]:
    require_node()
    root = tmp_path_factory.mktemp("openid")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{url}/web/sign-in/{name}/callback" for name in ("broker", "tampered")],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    secret = root / "client.secret"
    secret.write_text(CLIENT_SECRET, encoding="utf-8")
    secret.chmod(0o600)
    with (
        running_peer(root, clients=[client], accounts=_accounts()) as peer,
        tamper_proxy(peer) as proxy,
        built_site(root / "site", _settings(peer, proxy, secret), port=port) as site,
    ):
        yield site, peer, proxy


@pytest.fixture
def oidc(
    provider_site: tuple[Site, OpenIdPeer, TamperProxy],
) -> tuple[Site, OpenIdPeer, TamperProxy]:
    return provider_site


@pytest.fixture
def page(browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]) -> Iterator[Page]:
    """A fresh browser profile on this module's site (not the shared one of conftest.py)."""
    ctx = _context(browser, oidc[0])
    yield ctx.new_page()
    ctx.close()


def _context(browser: Browser, site: Site) -> BrowserContext:
    ctx = browser.new_context(
        base_url=site.url, locale="en-GB", viewport={"width": 1200, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    return ctx


def _sign_in(page: Page, login: str, *, mfa: bool = True, label: str = "Test broker") -> None:
    page.goto("/web/sign-in")
    page.get_by_role("link", name=f"Sign in with {label}").click()
    # At the provider's form, or (signed in there already, as at a real one) straight back.
    page.wait_for_url(lambda url: "/interaction/" in url or "/callback" in url)
    if "/interaction/" in page.url:
        page.get_by_label("User name").fill(login)
        if mfa:
            page.get_by_label("Second factor used").check()
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/callback" in url)
    page.wait_for_load_state()
    if page.get_by_role("heading", name="Signed in", exact=True).count():
        page.wait_for_url(lambda url: "/callback" not in url)
        page.wait_for_load_state()


def _signed_in(page: Page, path: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"))
    expect(page.locator("form[action='/web/sign-out']")).to_be_visible()


def _entries(site: Site, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=site.url, timeout=30) as client:
        while True:
            params: dict[str, Any] = {"action": action, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get(
                "/v1/audit/entries",
                params=params,
                headers={"Authorization": f"Bearer {site.auditor_token}"},
            ).json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def test_each_role_signs_in_at_the_provider_and_lands_on_its_start_page(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    people = [("investigator-linbo", "investigator"), ("approver-norrhem", "approver")]
    people += [("data_officer-motabo", "data_officer"), ("auditor-central", "auditor")]
    people += [("admin-central", "admin"), ("company_admin-linbo", "company_admin")]
    for login, role in people:
        ctx = _context(browser, site)
        page = ctx.new_page()
        _sign_in(page, login)
        _signed_in(page, HOMES[role])
        expect(page.locator("header")).to_contain_text(login)
        ctx.close()
    created = [e for e in _entries(site, "user.create") if e["object"].get("issuer") == "broker"]
    assert {e["outcome"]["reason"] for e in created} >= {f"role {role}" for _, role in people}
    assert {e["actor"]["id"] for e in created} == {"openid:broker"}
    starts = {e["object"].get("subject"): e for e in _entries(site, "session.start")}
    for login, role in people:
        assert starts[login]["object"]["issuer"] == "broker"
        assert starts[login]["actor"]["role"] == role
        assert starts[login]["outcome"]["reason"] == "openid"
    # the log names people by their provider's subject id, never by name
    assert not any("name" in e["object"] for e in starts.values())


def test_the_sign_in_page_offers_the_provider_and_no_token_form(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    page.goto("/web/sign-in")
    expect(page.get_by_role("link", name="Sign in with Test broker")).to_be_visible()
    expect(page.get_by_label(re.compile("API token"))).to_have_count(0)
    # a token posted anyway (a script, an old bookmark) is refused without being looked at
    csrf = page.locator(f"input[name={CSRF_FIELD}]").first.get_attribute("value") or ""
    answer = page.request.post("/web/sign-in", form={"token": site.admin_token, CSRF_FIELD: csrf})
    assert answer.status == 403
    assert "switched off" in answer.text()
    # the API's bearer tokens (scripts, the connector's upload) still work
    with httpx.Client(base_url=site.url) as client:
        assert client.get(
            "/v1/hits", headers={"Authorization": f"Bearer {site.tokens['linbo']['investigator']}"}
        ).is_success


def test_a_sign_in_without_the_second_factor_is_refused_with_a_clear_page(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    _sign_in(page, "investigator-norrhem", mfa=False)
    expect(page.get_by_role("alert")).to_contain_text("did not use a second factor")
    expect(page.locator("form[action='/web/sign-out']")).to_have_count(0)
    page.goto("/web/queue")
    expect(page).to_have_url(re.compile("/web/sign-in"))
    refused = [e for e in _entries(site, "access.denied") if e["object"].get("issuer") == "broker"]
    assert any(e["outcome"]["reason"] == "second-factor-missing" for e in refused)


def test_claims_that_map_to_no_role_are_refused_and_create_no_user(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    _sign_in(page, "stranger")
    expect(page.get_by_role("alert")).to_contain_text("has not given you access to Crosscheck")
    refused = [
        e for e in _entries(site, "access.denied") if e["object"].get("subject") == "stranger"
    ]
    assert [e["outcome"]["reason"] for e in refused] == ["no-role"]
    assert not [
        e for e in _entries(site, "session.start") if e["object"].get("subject") == "stranger"
    ]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("other-key", "id-token-signature"),
        ("other-audience", "id-token-audience"),
        ("expired", "id-token-expired"),
        ("replay", "id-token-nonce"),
    ],
)
def test_a_forged_or_replayed_id_token_is_refused(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy], mode: str, reason: str
) -> None:
    site, _, proxy = oidc
    ctx = _context(browser, site)
    page = ctx.new_page()
    # once through untouched: it works, and the proxy keeps that ID token for the replay
    proxy.mode = "pass"
    _sign_in(page, "forger", label="Tampered broker")
    _signed_in(page, "/web/queue")
    page.locator("form[action='/web/sign-out'] button").click()
    proxy.mode = mode
    try:
        _sign_in(page, "forger", label="Tampered broker")
    finally:
        proxy.mode = "pass"
    expect(page.get_by_role("alert")).to_contain_text(reason)
    expect(page.locator("form[action='/web/sign-out']")).to_have_count(0)
    page.goto("/web/queue")
    expect(page).to_have_url(re.compile("/web/sign-in"))
    refused = [
        e for e in _entries(site, "access.denied") if e["object"].get("issuer") == "tampered"
    ]
    assert reason in {e["outcome"]["reason"] for e in refused}
    ctx.close()


def test_a_person_removed_at_the_provider_is_signed_out_here(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, peer, _ = oidc
    _sign_in(page, "leaver")
    _signed_in(page, "/web/queue")
    time.sleep(1.2)
    page.goto("/web/queue")  # checked with the provider again: still there
    _signed_in(page, "/web/queue")
    peer.delete_account("leaver")
    time.sleep(1.2)
    page.goto("/web/queue")
    expect(page).to_have_url(re.compile("/web/sign-in"))
    ended = [e for e in _entries(site, "session.end") if e["object"].get("subject") == "leaver"]
    assert [e["outcome"]["reason"] for e in ended] == ["provider-ended"]


def test_a_role_taken_away_at_the_provider_ends_the_open_session(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, peer, _ = oidc
    _sign_in(page, "demoted")
    _signed_in(page, "/web/queue")
    peer.put_account("demoted", {"preferred_username": "demoted", "groups": [], "company": "linbo"})
    time.sleep(1.2)
    page.goto("/web/queue")
    expect(page).to_have_url(re.compile("/web/sign-in"))
    ended = [e for e in _entries(site, "session.end") if e["object"].get("subject") == "demoted"]
    assert [e["outcome"]["reason"] for e in ended] == ["role-changed"]
    _sign_in(page, "demoted")  # and signing in again finds no role
    expect(page.get_by_role("alert")).to_contain_text("has not given you access")


def test_a_person_revoked_here_is_signed_out_and_can_not_sign_in_again(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    _sign_in(page, "revoked")
    _signed_in(page, "/web/queue")
    with httpx.Client(base_url=site.url) as client:
        answer = client.post(
            "/v1/users/revoked/revoke", headers={"Authorization": f"Bearer {site.admin_token}"}
        )
        assert answer.is_success, answer.text
    page.goto("/web/queue")
    expect(page).to_have_url(re.compile("/web/sign-in"))
    _sign_in(page, "revoked")
    expect(page.get_by_role("alert")).to_contain_text("revoked")
    refused = [
        e for e in _entries(site, "access.denied") if e["object"].get("subject") == "revoked"
    ]
    assert [e["outcome"]["reason"] for e in refused] == ["user-revoked"]


def test_an_admin_sees_a_persons_sessions_and_ends_one(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    person_ctx, admin_ctx = _context(browser, site), _context(browser, site)
    person, admin = person_ctx.new_page(), admin_ctx.new_page()
    _sign_in(person, "ended")
    _signed_in(person, "/web/queue")
    _sign_in(admin, "admin-central")
    _signed_in(admin, "/web/admin/users")
    admin.get_by_role("link", name="Sessions of ended").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Sessions of ended")
    expect(admin.locator("main")).to_contain_text("Signs in through broker.")
    rows = admin.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Open")
    rows.first.get_by_role("button", name="End").click()
    expect(admin.get_by_role("status")).to_contain_text("The session has ended")
    expect(admin.locator("tbody tr").first).to_contain_text("ended by an administrator")
    person.goto("/web/queue")
    expect(person).to_have_url(re.compile("/web/sign-in"))
    ended = [e for e in _entries(site, "session.end") if e["outcome"]["reason"] == "ended-by-admin"]
    assert len(ended) == 1 and ended[0]["actor"]["role"] == "admin"
    assert _entries(site, "session.list")
    person_ctx.close()
    admin_ctx.close()


def test_a_company_administrator_manages_their_own_people_and_no_one_elses(
    page: Page, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    _sign_in(page, "company_admin-norrhem")
    _signed_in(page, "/web/admin/users")
    nav = page.get_by_role("navigation", name="Main menu")
    expect(nav.get_by_role("link")).to_have_text(["Our people"])
    companies = page.locator("tbody tr td:nth-child(3)")
    assert set(companies.all_inner_texts()) == {"norrhem"}
    expect(page.locator("tbody")).not_to_contain_text("investigator-linbo")
    # another company's person: not found, by name or by their sessions
    answer = page.goto("/web/admin/users/investigator-linbo/sessions")
    assert answer is not None and answer.status == 404
    answer = page.request.post("/web/admin/users/investigator-linbo/revoke")
    assert answer.status in (403, 404)  # no CSRF token (403), and no such person for them
    # a new person of their own company: the roles offered are the company's only
    page.goto("/web/admin/users")
    offered = page.locator("#role option").all_inner_texts()
    assert "Administrator" not in offered and "Auditor" not in offered
    expect(page.locator("#company_id")).to_have_value("norrhem")
    page.get_by_label("Name", exact=True).fill("new-officer-norrhem")
    page.get_by_label("Role").select_option("data_officer")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("main")).to_contain_text("new-officer-norrhem")
    created = [
        e for e in _entries(site, "user.create") if e["outcome"]["reason"] == "role data_officer"
    ]
    assert created[-1]["actor"]["role"] == "company_admin"
    assert created[-1]["object"]["company"] == "norrhem"


def test_a_role_changed_at_the_provider_applies_at_the_next_sign_in(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, peer, _ = oidc
    ctx = _context(browser, site)
    page = ctx.new_page()
    _sign_in(page, "mover")
    _signed_in(page, "/web/queue")
    page.locator("form[action='/web/sign-out'] button").click()
    peer.put_account("mover", _account("mover", "approver", "linbo"))
    _sign_in(page, "mover")
    _signed_in(page, "/web/approvals")
    updates = [e for e in _entries(site, "user.update") if e["object"].get("issuer") == "broker"]
    assert [e["outcome"]["reason"] for e in updates] == ["role investigator -> approver"]
    ctx.close()


def test_the_provider_rotating_its_signing_key_needs_nothing_here(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, peer, _ = oidc
    ctx = _context(browser, site)
    page = ctx.new_page()
    _sign_in(page, "rotator")
    _signed_in(page, "/web/queue")
    page.locator("form[action='/web/sign-out'] button").click()
    peer.rotate(new_key("key-2"))  # the old key is gone from the provider's JWKS
    jwks = httpx.get(f"{peer.issuer}/jwks").json()
    assert [k["kid"] for k in jwks["keys"]] == ["key-2"]
    time.sleep(2.1)  # the matcher fetches a JWKS again at most every 2 s
    _sign_in(page, "rotator")
    _signed_in(page, "/web/queue")
    ctx.close()


def test_the_four_eyes_reveal_with_people_signed_in_at_the_provider(
    browser: Browser, oidc: tuple[Site, OpenIdPeer, TamperProxy]
) -> None:
    site, _, _ = oidc
    company = max(site.hits, key=lambda c: len(site.hits[c]))
    hit = site.hits[company][0]
    counterpart = hit["counterpart_company"]
    case = "OIDC-2026-0001"
    investigator_ctx = _context(browser, site)
    investigator = investigator_ctx.new_page()
    _sign_in(investigator, f"investigator-{company}")
    _signed_in(investigator, "/web/queue")
    investigator.goto(f"/web/hits/{hit['id']}")
    form = investigator.locator("form[action$='/reveal-requests']")
    fields = form.locator("input[type=checkbox][name=fields]")
    for i in range(fields.count()):
        fields.nth(i).check()
    investigator.get_by_label("Purpose").fill("Check a possible second first-hand contract")
    investigator.get_by_label("Case reference").fill(case)
    investigator.get_by_label(re.compile("^Justification")).fill(
        "Both contracts are first-hand homes and overlap by months; we must ask the tenant."
    )
    investigator.get_by_role("button", name="Request the reveal").click()
    expect(investigator.get_by_role("row").filter(has_text=case)).to_contain_text(
        "Waiting for approval"
    )

    approver_ctx = _context(browser, site)
    approver = approver_ctx.new_page()
    _sign_in(approver, f"approver-{counterpart}")
    _signed_in(approver, "/web/approvals")
    request = approver.locator("section.decide").filter(has_text=case)
    request.get_by_label("Reason for your decision").fill("Purpose and case fit the policy.")
    request.get_by_role("button", name="Approve").click()
    expect(approver.get_by_role("status")).to_have_text("Your decision has been recorded.")
    approver_ctx.close()

    investigator.goto("/web/requests")
    row = investigator.get_by_role("row").filter(has_text=case)
    expect(row).to_contain_text("Approved")
    row.get_by_role("link", name="Read the disclosure").click()
    expect(investigator.get_by_role("heading", level=1)).to_have_text(
        f"Disclosure for hit {hit['id']}"
    )
    investigator_ctx.close()

    # the log names both people by the ids the provider's sign-ins made
    starts = {e["object"].get("subject"): e["actor"]["id"] for e in _entries(site, "session.start")}
    approvals = [e for e in _entries(site, "reveal.approve") if e["case_reference"] == case]
    assert [e["actor"]["id"] for e in approvals] == [starts[f"approver-{counterpart}"]]
    reads = [e for e in _entries(site, "disclosure.read") if e["case_reference"] == case]
    assert reads and {e["actor"]["id"] for e in reads} == {starts[f"investigator-{company}"]}
    assert json.dumps(approvals)  # entries are plain JSON
