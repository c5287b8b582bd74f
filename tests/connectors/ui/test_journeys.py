"""`connector ui` in Chromium (Playwright, headless Debian Chromium), in Swedish and English:
the whole round on a corpus export up to the matcher's answer, bad exports, and an upload cut
off half-way by the matcher going away."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from connectors.ui import RunningUi
from tests.connectors.ui.conftest import CORPUS, DATA, Matcher, Relay, make_workspace, register

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

AS_OF = "2026-11-01"
HEADINGS = {
    "sv": {
        "export": "Välj utdraget",
        "mapping": "Kolumner i utdraget",
        "package": "Det som lämnar",
    },
    "en": {
        "export": "Choose the export",
        "mapping": "Columns of the export",
        "package": "What leaves",
    },
}


def _open(browser: Browser, running: RunningUi, lang: str) -> Page:
    context = browser.new_context(locale="sv-SE" if lang == "sv" else "en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(running.start_url)
    if lang == "en":
        page.goto(running.base_url + "/?lang=en")
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_role("heading", name=HEADINGS[lang]["export"]).wait_for()
    return page


def _choose(page: Page, export: Path) -> None:
    page.locator("ol.steps a[href='/']").click()
    page.locator("#export").fill(str(export))
    page.locator("#as_of").fill(AS_OF)
    page.locator("form[action='/export'] button").click()


def _select(page: Page, column: str) -> str:
    value: str = page.locator(f"tr[data-column='{column}'] select").input_value()
    return value


def _extracts(matcher: Matcher, token: str) -> list[dict[str, object]]:
    response = httpx.get(
        matcher.url + "/v1/extracts", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    extracts: list[dict[str, object]] = response.json()
    return extracts


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_whole_round_from_the_export_to_the_matchers_answer(
    lang: str,
    browser: Browser,
    matcher: Matcher,
    relay: Relay,
    serve_ui: Callable[[Path], RunningUi],
    tmp_path: Path,
    matching_key: Path,
) -> None:
    company = f"round-{lang}"
    profile = make_workspace(tmp_path, company, relay.url, matcher.reveal_pub, matching_key)
    token = register(matcher, company, profile)
    page = _open(browser, serve_ui(profile), lang)

    _choose(page, CORPUS / "sv_abbreviations.csv")
    page.get_by_role("heading", name=HEADINGS[lang]["mapping"]).wait_for()
    # prefilled from the inference (the profile was made from another export)
    assert _select(page, "Pnr") == "national_id"
    assert _select(page, "Radnr") == "record_id"
    assert _select(page, "Sekr") == "protected_identity"
    row = page.locator("tr[data-column='Pnr']")
    assert re.search(r"\d+ %", row.locator("td.num").inner_text())
    assert re.search(r"\d{6,8}-?\d{4}", row.locator("td.samples").inner_text())
    page.locator("form[action='/mapping'] button").click()

    page.locator("#check-passed").wait_for()
    assert page.locator("#rows-read").inner_text() == "40"
    assert page.locator("td[data-reason='protected_identity']").inner_text() == "2"
    saved = tomllib.loads(profile.read_text(encoding="utf-8"))
    assert saved["mapping"]["national_id"] == "Pnr"  # the same connector.toml the CLI reads

    page.locator("form[action='/pseudonymise'] button").click()
    page.locator("#package-clean").wait_for()
    page.get_by_role("heading", name=re.compile(HEADINGS[lang]["package"])).wait_for()
    assert page.locator("#package-rows").inner_text() == "38"
    columns = page.locator("#package-columns").inner_text()
    assert "ref" in columns and "Pnr" not in columns

    page.locator("#token").fill(token)
    page.locator("form[action='/upload'] button").click()
    page.locator("#upload-done").wait_for()
    extract_id = page.locator("#extract-id").inner_text()
    assert [e["id"] for e in _extracts(matcher, token)] == [extract_id]
    assert page.locator("#upload-rows").inner_text() == "38"
    page.context.close()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_an_upload_cut_off_half_way_accepts_nothing_and_can_be_retried(
    lang: str,
    browser: Browser,
    matcher: Matcher,
    relay: Relay,
    serve_ui: Callable[[Path], RunningUi],
    tmp_path: Path,
    matching_key: Path,
) -> None:
    company = f"cut-{lang}"
    profile = make_workspace(tmp_path, company, relay.url, matcher.reveal_pub, matching_key)
    token = register(matcher, company, profile)
    page = _open(browser, serve_ui(profile), lang)
    _choose(page, DATA / "good_english.csv")
    page.locator("form[action='/mapping'] button").click()
    page.locator("form[action='/pseudonymise'] button").click()
    page.locator("#package-clean").wait_for()
    package = Path(page.locator("table.summary code").first.inner_text())
    before = {p.name: p.read_bytes() for p in package.iterdir()}

    relay.drop_after = (package / "records.parquet").stat().st_size // 2
    dropped = relay.dropped
    try:
        page.locator("#token").fill(token)
        page.locator("form[action='/upload'] button").click()
        page.locator("#upload-failed").wait_for()
    finally:
        relay.drop_after = None
    assert relay.dropped > dropped  # the connection really was cut mid-upload
    failed = page.locator("#upload-failed").inner_text()
    assert ("tog inte emot något" if lang == "sv" else "accepted nothing") in failed
    assert _extracts(matcher, token) == []  # nothing was accepted
    assert {p.name: p.read_bytes() for p in package.iterdir()} == before  # nothing changed here

    page.locator("#token").fill(token)
    page.locator("form[action='/upload'] button").click()
    page.locator("#upload-done").wait_for()
    assert len(_extracts(matcher, token)) == 1
    page.context.close()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_bad_exports_show_their_problems_and_write_nothing(
    lang: str,
    browser: Browser,
    matcher: Matcher,
    serve_ui: Callable[[Path], RunningUi],
    tmp_path: Path,
    matching_key: Path,
) -> None:
    profile = make_workspace(tmp_path, f"bad-{lang}", matcher.url, matcher.reveal_pub, matching_key)
    workspace = profile.parent
    page = _open(browser, serve_ui(profile), lang)

    # not a table at all
    not_a_table = tmp_path / "export.xlsx"
    not_a_table.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    _choose(page, not_a_table)
    assert page.locator("#error").is_visible()
    page.get_by_role("heading", name=HEADINGS[lang]["export"]).wait_for()

    # a required column missing: the profile is not saved, the mapping says why
    before = profile.read_text(encoding="utf-8")
    _choose(page, DATA / "bad_missing_required.csv")
    page.locator("form[action='/mapping'] button").click()
    page.locator("#error").wait_for()
    assert "national_id" in page.locator("#error").inner_text()
    assert profile.read_text(encoding="utf-8") == before

    # bad personnummer on more rows than --max-error-rate allows: problem rows shown inline,
    # pseudonymise not offered
    _choose(page, DATA / "bad_invalid_ids.csv")
    page.locator("form[action='/mapping'] button").click()
    page.locator("#check-stopped").wait_for()
    problems = page.locator("#problems")
    assert "National ID" in problems.inner_text()
    assert re.search(r"^\s*\d+\s", problems.locator("tbody tr").first.inner_text())
    assert page.locator("form[action='/pseudonymise']").count() == 0
    assert not (workspace / "packages").exists()
    assert not (workspace / "refs.parquet").exists()
    page.context.close()
