"""The ui's check step fails closed on protection flags like `connector check` (same code):
a flag column known only by its values, left unmapped, stops the round before pseudonymise."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
from stdnum import luhn

from connectors import pseudonymise
from connectors.ui import RunningUi
from tests.connectors.ui.conftest import make_workspace


def _pnr(i: int) -> str:
    body = f"7{i % 10}0{1 + i % 9}1{i % 10}{100 + i:03d}"
    return "19" + body + luhn.calc_check_digit(body)


def test_an_unmapped_flag_by_values_is_named_and_pseudonymise_not_offered(
    tmp_path: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    profile = make_workspace(tmp_path, "linbo", "http://127.0.0.1:9", tmp_path / "reveal.pub")
    export = tmp_path / "export.csv"
    lines = ["Löpnr;Personnummer;Efternamn;Fr.o.m.;F7"]
    lines += [f"{i};{_pnr(i)};Berg;2020-01-01;{'J' if i in (3, 7) else 'N'}" for i in range(1, 21)]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    running = serve_ui(profile)
    client = httpx.Client(base_url=running.base_url, timeout=30)
    client.get(running.start_url)
    form_token = re.search(r'name="form_token" value="([^"]+)"', client.get("/?lang=en").text)
    assert form_token is not None
    token = form_token[1]
    client.post(
        "/export",
        data={"form_token": token, "export": str(export), "as_of": "2026-11-01",
              "max_error_rate": "0.05"},
    )  # fmt: skip
    mapping = client.get("/mapping").text
    assert re.search(r'name="field:F7">.*?value="protected_identity" selected', mapping, re.S)

    fields = {"Löpnr": "record_id", "Personnummer": "national_id", "Efternamn": "last_name",
              "Fr.o.m.": "contract_start", "F7": ""}  # fmt: skip
    data = {"form_token": token, **{f"field:{c}": f for c, f in fields.items()}}
    check = client.post("/mapping", data=data, follow_redirects=True).text
    assert 'id="check-refused"' in check
    assert "column &#34;F7&#34; holds only yes/no-like values" in check
    assert 'action="/pseudonymise"' not in check
    assert not (profile.parent / "reports").exists()

    # stated on purpose: "F7 is not a protection flag" goes into the profile as not_flags
    data["field:F7"] = "__not_flag__"
    client.post("/mapping", data=data)
    saved = tomllib.loads(profile.read_text(encoding="utf-8"))
    assert saved["protection"]["not_flags"] == ["F7"]
    assert "protected_identity" not in saved["mapping"]
