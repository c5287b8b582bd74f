"""The same story against a real `matcher serve` on 127.0.0.1, with `connector upload`.

Nothing in-process on the matcher side: the server is its own process, the connector talks HTTP
to it, the operator uses the `matcher` command.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import httpx
import pytest

from connectors.cli.main import main as connector
from demo.server import serving
from demo.story import all_hits
from matcher.actions.runs import SHIPPED_POLICY
from matcher.cli.main import main as matcher
from tests.e2e.story import AS_OF, planted, prepare_companies, record_pairs


def _json(*argv: str) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert matcher(list(argv)) == 0
    result: dict[str, str] = json.loads(out.getvalue())
    return result


def test_upload_over_loopback_run_and_queues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "matcher-data"
    _json("init", "--data-dir", str(data_dir), "--json")
    reveal = tmp_path / "reveal.pub"
    assert (
        matcher(["keys", "reveal-public", "--data-dir", str(data_dir), "--out", str(reveal)]) == 0
    )
    synthetic, companies = prepare_companies(tmp_path, reveal, records=500, seed=5)
    investigators: dict[str, str] = {}
    with serving(data_dir, tmp_path / "serve.log") as url:
        for company in companies:
            cid = company.company_id
            assert matcher(["-q", "companies", "add", cid, "--name", cid, "--signing-key",
                            str(company.workspace / "signing.pub"), "--data-dir",
                            str(data_dir)]) == 0  # fmt: skip
            officer = _json("users", "add", f"{cid}-data", "--role", "data_officer",
                            "--company", cid, "--data-dir", str(data_dir), "--json")  # fmt: skip
            investigators[cid] = _json(
                "users", "add", f"{cid}-inv", "--role", "investigator", "--company", cid,
                "--data-dir", str(data_dir), "--json",
            )["token"]  # fmt: skip
            text = company.profile.read_text(encoding="utf-8")
            company.profile.write_text(
                text.replace('url = "http://127.0.0.1:8000"', f'url = "{url}"'), encoding="utf-8"
            )
            monkeypatch.setenv("CROSSCHECK_TOKEN", officer["token"])
            capsys.readouterr()
            upload = ["upload", str(company.package), "--profile", str(company.profile)]
            assert connector(upload) == 0
            assert "uploaded: extract" in capsys.readouterr().out
            assert connector(upload) == 0  # safe to repeat
            assert "already at the matcher" in capsys.readouterr().out

        # Another company's data officer can not upload linbo's package.
        monkeypatch.setenv("CROSSCHECK_TOKEN", officer["token"])  # the last company's officer
        linbo = companies[0]
        assert connector(["upload", str(linbo.package), "--profile", str(linbo.profile)]) == 1
        assert "another company" in capsys.readouterr().err

        activate = ["-q", "policies", "activate", str(SHIPPED_POLICY), "--data-dir", str(data_dir)]
        assert matcher(activate) == 0
        assert matcher(["-q", "run", "--data-dir", str(data_dir), "--run-date", AS_OF]) == 0
        with httpx.Client(base_url=url) as client:
            hits = {cid: list(all_hits(client, token)) for cid, token in investigators.items()}

    pairs = record_pairs(hits, companies)
    found = {frozenset(pair.items()) for pair in pairs.values()}
    for case in planted(synthetic.truth, "concurrent_tenancy"):
        assert frozenset(case.items()) in found
    first_two = {h["id"] for h in hits["linbo"] if h["counterpart_company"] == "norrhem"}
    assert first_two
    assert not first_two & {h["id"] for h in hits["motabo"]}
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    uploads = [
        event["status"]
        for event in map(json.loads, log.splitlines())
        if event["event"] == "request"
        and (event["method"], event["route"]) == ("POST", "/v1/extracts")
    ]
    # Accepted, accepted again (idempotent), and the story's refused foreign upload: no 5xx.
    assert 201 in uploads and 200 in uploads and max(uploads) < 500, uploads
    for token in investigators.values():
        assert token not in log
