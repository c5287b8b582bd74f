"""Helpers of the browser tests: where Chromium is, who the site's users are, and the common
steps (sign in, screenshot). The fixtures are in conftest.py."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "Site", "screenshot", "sign_in"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
README_IMAGES = Path(__file__).parents[2] / "docs" / "img"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Site:
    """The running matcher and the people who use it."""

    url: str
    admin_token: str
    tokens: dict[str, dict[str, str]]  # company -> role -> token
    hits: dict[str, list[dict[str, Any]]]  # company -> hits its investigator sees
    row_counts: dict[str, int]
    auditor_token: str = ""
    data_dir: Path | None = None  # the matcher's data directory (for `matcher audit export`)


def sign_in(page: Page, token: str) -> None:
    page.goto("/web/sign-in")
    page.get_by_label(re.compile("API token|API-token")).fill(token)
    page.locator("main").get_by_role("button").click()
    page.wait_for_load_state()


def screenshot(page: Page, name: str, *, readme: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if readme and os.environ.get("CROSSCHECK_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_IMAGES / f"web-{name}.png"), full_page=True)
