"""`connector ui --new-workspace DIR`: the first page asks what `connector init` asks, and
saving the mapping creates the workspace with the same code (profile and keys), only when the
profile would be usable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.profile import load_profile
from connectors.ui import RunningUi, UiSettings, start_in_thread
from tests.connectors.ui.conftest import CORPUS, DATA


@pytest.fixture
def new_ui(tmp_path: Path) -> Iterator[tuple[RunningUi, Path]]:
    folder = tmp_path / "ws"
    running = start_in_thread(UiSettings(profile=folder / "connector.toml", create=True))
    yield running, folder
    running.stop()


def _keys(tmp_path: Path) -> dict[str, str]:
    assert main(["-q", "keys", "new-matching-key", "--out", str(tmp_path / "matching.key")]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    return {"matching_key": str(tmp_path / "matching.key"),
            "reveal_key": str(tmp_path / "reveal.pub")}  # fmt: skip


def _start(running: RunningUi) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=running.base_url, timeout=30)
    client.get(running.start_url)
    page = client.get("/?lang=en").text
    assert 'id="new-workspace"' in page
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token is not None
    return client, token[1]


def test_saving_the_mapping_creates_the_workspace_as_init_does(
    new_ui: tuple[RunningUi, Path], tmp_path: Path
) -> None:
    running, folder = new_ui
    client, token = _start(running)
    export = CORPUS / "sv_abbreviations.csv"
    answer = client.post(
        "/export",
        data={"form_token": token, "export": str(export), "as_of": "2026-11-01",
              "max_error_rate": "0.05", "company": "linbo",
              "matcher_url": "https://matcher.example.se", **_keys(tmp_path)},
    )  # fmt: skip
    assert answer.headers["location"] == "/mapping"
    assert not folder.exists()  # nothing written before the mapping is saved
    mapping = client.get("/mapping").text
    chosen = dict(re.findall(r'name="field:([^"]+)">.*?value="([a-z_]*)" selected', mapping, re.S))
    assert chosen["Pnr"] == "national_id"
    data = {"form_token": token, **{f"field:{c}": f for c, f in chosen.items()}}
    check = client.post("/mapping", data=data, follow_redirects=True).text
    assert 'id="check-passed"' in check and 'id="signing-fingerprint"' in check
    profile = load_profile(folder / "connector.toml")
    assert profile.company_id == "linbo" and profile.mapping["national_id"] == "Pnr"
    assert profile.reveal_key_fingerprint is not None
    for name in ("matching.key", "local.key", "signing.key", "signing.pub", "reveal.pub"):
        assert (folder / name).exists(), name


def test_an_unusable_mapping_or_a_bad_company_id_creates_nothing(
    new_ui: tuple[RunningUi, Path], tmp_path: Path
) -> None:
    running, folder = new_ui
    client, token = _start(running)
    keys = _keys(tmp_path)
    base = {"form_token": token, "export": str(DATA / "bad_missing_required.csv"),
            "as_of": "2026-11-01", "max_error_rate": "0.05",
            "matcher_url": "https://matcher.example.se", **keys}  # fmt: skip
    client.post("/export", data={**base, "company": "Linbo AB"})
    mapping = client.get("/mapping").text
    chosen = dict(re.findall(r'name="field:([^"]+)">.*?value="([a-z_]*)" selected', mapping, re.S))
    data = {"form_token": token, **{f"field:{c}": f for c, f in chosen.items()}}
    refused = client.post("/mapping", data=data).text
    assert "is not a company id" in refused
    assert not folder.exists()

    client.post("/export", data={**base, "company": "linbo"})
    refused = client.post("/mapping", data=data).text
    assert "national_id" in refused and "required field is not mapped" in refused
    assert not folder.exists()
