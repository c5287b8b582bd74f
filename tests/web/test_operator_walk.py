"""The operator guide's walk, run as written: from zero to an investigator signed in through
the test OpenID provider, in Chromium.

The commands are read from docs/operator.md (between ``<!-- walk:openid -->`` markers), so the
guide can not drift from what works. Only the ports (free ones instead of 8000 and 9090) and
the folder (a temporary one) differ; the repository's paths are made absolute.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.server import free_port
from tests.oidc.peer import require_node

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from playwright.sync_api import Browser, expect

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "operator.md"


def walk_commands() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    block = text.split("<!-- walk:openid -->", 1)[1].split("<!-- /walk:openid -->", 1)[0]
    lines = [line for line in block.strip().splitlines() if not line.startswith("```")]
    return [line for line in lines if line.strip()]


def test_the_walk_has_fewer_than_ten_commands() -> None:
    assert len(walk_commands()) < 10


def _wait(url: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer at {url}")
        time.sleep(0.2)


@pytest.fixture
def walked(tmp_path: Path) -> Iterator[str]:
    require_node()
    provider_port, matcher_port = free_port(), free_port()
    example = (ROOT / "tests" / "oidc" / "example.json").read_text(encoding="utf-8")
    ports = {
        "127.0.0.1:9090": f"127.0.0.1:{provider_port}",
        "127.0.0.1:8000": f"127.0.0.1:{matcher_port}",
    }
    for old, new in ports.items():
        example = example.replace(old, new)
    example = example.replace('"port": 9090', f'"port": {provider_port}')
    (tmp_path / "example.json").write_text(example, encoding="utf-8")
    background: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "walk.log").open("ab")
    try:
        for command in walk_commands():
            command = command.replace("tests/oidc/example.json", str(tmp_path / "example.json"))
            command = command.replace("tests/oidc", shlex.quote(str(ROOT / "tests" / "oidc")))
            command = command.replace(".venv/bin/", shlex.quote(str(ROOT / ".venv" / "bin")) + "/")
            command = command.replace("--port 8000", f"--port {matcher_port}")
            for old, new in ports.items():
                command = command.replace(old, new)
            serve = " serve " in command
            if command.endswith("&") or serve:
                process = subprocess.Popen(
                    command.rstrip("& "),
                    shell=True,
                    cwd=tmp_path,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    executable="/bin/bash",
                )
                background.append(process)
                if serve:
                    _wait(f"http://127.0.0.1:{matcher_port}/healthz", "matcher serve")
                else:
                    _wait(
                        f"http://127.0.0.1:{provider_port}/.well-known/openid-configuration",
                        "the provider",
                    )
            else:
                subprocess.run(
                    command,
                    shell=True,
                    cwd=tmp_path,
                    check=True,
                    stdout=log,
                    stderr=log,
                    executable="/bin/bash",
                    env={**os.environ, "CROSSCHECK_DATA_DIR": ""},
                )
        yield f"http://127.0.0.1:{matcher_port}"
    finally:
        for process in background:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)


def test_the_operator_guide_walk_signs_an_investigator_in(browser: Browser, walked: str) -> None:
    ctx = browser.new_context(base_url=walked, locale="en-GB")
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto("/web/sign-in")
    page.get_by_role("link", name="Sign in with Test provider").click()
    page.get_by_label("User name").fill("ingrid")
    page.get_by_label("Second factor used").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/web/queue$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("header")).to_contain_text("ingrid")
    ctx.close()
