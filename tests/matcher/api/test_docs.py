"""`/docs` works with no internet: every file it loads comes from the matcher itself, and the
page runs under the Content-Security-Policy the app sends with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from demo.server import serving
from matcher.settings import init_data_dir

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

_REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_docs_page_references_only_this_origin_and_every_asset_answers(
    client: TestClient,
) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = _REFERENCE.findall(page.text)
    assert any(r.endswith("swagger-ui-bundle.js") for r in references)
    assert "//" not in page.text.replace("<!doctype html>", ""), "an absolute URL on the page"
    policy = page.headers["content-security-policy"]
    assert "http" not in policy, policy  # no outside host is allowed either
    assert "script-src 'self';" in policy  # no inline script, no CDN
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.DOTALL)
    assert scripts and all(not body.strip() for body in scripts), "inline script on /docs"
    for reference in references:
        assert reference.startswith("/"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert asset.content, reference
        if reference.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], reference
            assert "cdn.jsdelivr" not in asset.text, reference
    init = client.get("/docs/init.js").text
    assert '"/openapi.json"' in init and "validatorUrl: null" in init
    assert client.get("/openapi.json").status_code == 200


def test_fastapis_cdn_pages_are_gone(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


def test_docs_renders_in_a_browser_with_no_internet_and_no_policy_violation(
    browser: Browser, tmp_path: Path
) -> None:
    settings, _ = init_data_dir(tmp_path / "data", None)
    outside: list[str] = []
    console: list[str] = []

    def offline(route: Route) -> None:
        # Only the matcher on the loopback answers: a CDN request would leave the page blank.
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with serving(settings.data_dir, tmp_path / "serve.log") as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.route("**/*", offline)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"error: {e}"))
            page.goto(f"{url}/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            assert page.locator(".opblock").count() > 10
            assert "/v1/extracts" in page.inner_text("#swagger-ui")
        finally:
            context.close()
    assert outside == []
    # A Content-Security-Policy violation is reported on the console as an error.
    assert [m for m in console if m.startswith("error")] == []
