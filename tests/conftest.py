"""Fixtures shared by the browser tests of the pages (tests/web) and of `connector ui`.

One Chromium per test session: Playwright's sync API runs its own event loop, and a second
``sync_playwright()`` while the first is open fails ("using Playwright Sync API inside the
asyncio loop"), so both suites take this one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium, once per session; skips (with the reason) when it can not run."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y "
            "chromium` (.ci/run does it); never `playwright install`"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
