"""Browser-test fixtures: a real `matcher serve` with three companies' data, and Chromium.

The data is made the way companies make it: synthetic registers -> `connector` workspaces ->
signed packages -> upload over HTTP; then one matching run. Chromium is Debian's
(`apt-get install -y chromium`, done by `.ci/run`), driven headless by Playwright; the tests
skip with the reason when it is missing. Screenshots go to tests/web/screenshots/ (ignored by
git); with CROSSCHECK_README_SCREENSHOTS=1 the two shown in the README are refreshed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from connectors.upload import upload_package
from demo.server import serving
from demo.story import all_hits
from matcher.actions.runs import SHIPPED_POLICY
from matcher.settings import init_data_dir
from tests.e2e.story import AS_OF, bearer, prepare_companies
from tests.matcher.factories import run_to_end
from tests.web.browser import Site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with built_site(tmp_path_factory.mktemp("web")) as found:
        yield found


@contextmanager
def built_site(root: Path, settings_text: str = "", port: int | None = None) -> Iterator[Site]:
    """Three companies' data uploaded and matched on a running `matcher serve`;
    ``settings_text`` is added to its matcher.toml first."""
    settings, admin_token = init_data_dir(root / "matcher", None)
    if settings_text:
        with (settings.data_dir / "matcher.toml").open("a", encoding="utf-8") as toml:
            toml.write(settings_text)
    _, companies = prepare_companies(
        root, settings.reveal_public_key_path, companies=3, records=300, seed=7
    )
    with (
        serving(settings.data_dir, root / "serve.log", port=port) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        admin = bearer(admin_token)
        tokens: dict[str, dict[str, str]] = {}
        row_counts: dict[str, int] = {}
        for company in companies:
            cid = company.company_id
            signing = (company.workspace / "signing.pub").read_text(encoding="ascii")
            response = client.post(
                "/v1/companies",
                json={"id": cid, "name": cid.title(), "signing_public_key": signing},
                headers=admin,
            )
            assert response.status_code == 201, response.text
            tokens[cid] = {}
            for role in ("data_officer", "investigator", "approver"):
                response = client.post(
                    "/v1/users",
                    json={"name": f"{cid}-{role}", "role": role, "company_id": cid},
                    headers=admin,
                )
                assert response.status_code == 201, response.text
                tokens[cid][role] = response.json()["token"]
            result = upload_package(
                company.package, client=client, token=tokens[cid]["data_officer"]
            )
            row_counts[cid] = result.rows
        response = client.post(
            "/v1/policies",
            content=SHIPPED_POLICY.read_bytes(),
            headers={**admin, "Content-Type": "application/toml"},
        )
        assert response.status_code in (200, 201), response.text
        assert run_to_end(client, admin_token, AS_OF)["status"] == "succeeded"
        hits = {cid: list(all_hits(client, t["investigator"])) for cid, t in tokens.items()}
        response = client.post(
            "/v1/users", json={"name": "audit-office", "role": "auditor"}, headers=admin
        )
        assert response.status_code == 201, response.text
        auditor = response.json()["token"]
        yield Site(url, admin_token, tokens, hits, row_counts, auditor, settings.data_dir)


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (own cookies), in English unless a test switches."""
    ctx = browser.new_context(
        base_url=site.url, locale="en-GB", viewport={"width": 1200, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def browser_sv(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser profile whose language is Swedish (Accept-Language: sv-SE)."""
    ctx = browser.new_context(base_url=site.url, locale="sv-SE")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()
