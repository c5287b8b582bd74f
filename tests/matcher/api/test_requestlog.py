"""The server log of a real `matcher serve`: JSON Lines without tokens, queries or personal data,
and a request id that is both the answer's X-Request-ID and the audit entry's http_request_id."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from demo.server import free_port
from matcher.api.accesslog import JsonLines, TextLines, resolve_format
from matcher.api.requestlog import request_id_from
from matcher.cli.main import main as matcher
from matcher.settings import load_settings
from matcher.store.database import create_database_engine
from matcher.store.tables import audit_entries

PERSONNUMMER = "198001011234"


def _cli_json(*argv: str) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert matcher([*argv, "--json"]) == 0
    result: dict[str, str] = json.loads(out.getvalue())
    return result


@contextmanager
def _serve(data_dir: Path, out: Path, err: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "matcher.cli.main", "serve", "--data-dir", str(data_dir),
             "--port", str(port), *extra],
            stdout=stdout,
            stderr=stderr,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, err.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def _entries(data_dir: Path) -> list[dict[str, object]]:
    engine = create_database_engine(load_settings(data_dir).database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_entries.c.entry).order_by(audit_entries.c.seq))
            return [json.loads(bytes(row.entry)) for row in rows]
    finally:
        engine.dispose()


def test_serve_logs_json_lines_without_secrets_and_ties_requests_to_audit_entries(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    admin = _cli_json("init", "--data-dir", str(data_dir))["admin_token"]
    d = ("--data-dir", str(data_dir))
    auditor = _cli_json("users", "add", "aud", "--role", "auditor", *d)["token"]
    bogus = "cc_" + "x" * 40
    proxy_id = "proxy-4f1c2a9e-0001"
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with _serve(data_dir, out, err) as base:
        admin_h = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(f"{base}/healthz").status_code == 200
        listed = httpx.get(f"{base}/v1/users", headers={**admin_h, "X-Request-ID": proxy_id})
        assert listed.status_code == 200
        assert listed.headers["x-request-id"] == proxy_id
        refused = httpx.get(f"{base}/v1/hits", headers={"Authorization": f"Bearer {bogus}"})
        assert refused.status_code == 401
        forbidden = httpx.get(f"{base}/v1/users", headers={"Authorization": f"Bearer {auditor}"})
        assert forbidden.status_code == 403
        # A query holding a person's token and a personnummer-like value, and an X-Request-ID
        # that smuggles one: the id is replaced, neither value is logged.
        report = httpx.get(
            f"{base}/v1/subject-report",
            params={"token": "ab" * 32, "note": PERSONNUMMER},
            headers={**admin_h, "X-Request-ID": "19800101-1234"},
        )
        assert report.status_code == 200
        assert report.headers["x-request-id"] != "19800101-1234"
        assert len(report.headers["x-request-id"]) == 32
        assert httpx.get(f"{base}/no/such/path?email=a.b@example.se").status_code == 404
    logged = err.read_text(encoding="utf-8") + out.read_text(encoding="utf-8")
    lines = [line for line in logged.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "event"} <= set(e) for e in events)
    for secret in (admin, auditor, bogus, "ab" * 32, PERSONNUMMER, "19800101-1234", "example.se"):
        assert secret not in logged, secret
    assert "?" not in logged
    requests = [e for e in events if e["event"] == "request"]
    by_id = {e["request_id"]: e for e in requests}
    assert by_id[proxy_id] == {
        **by_id[proxy_id],
        "method": "GET",
        "route": "/v1/users",
        "status": 200,
    }
    assert isinstance(by_id[proxy_id]["duration_ms"], float)
    assert by_id[proxy_id]["actor_id"] is not None
    assert by_id[refused.headers["x-request-id"]]["status"] == 401
    assert by_id[refused.headers["x-request-id"]]["actor_id"] == "anonymous"
    assert by_id[forbidden.headers["x-request-id"]]["status"] == 403
    assert {e["route"] for e in requests} >= {"/healthz", "/v1/subject-report", "(no route)"}
    assert any(e["event"] == "serving" for e in events)

    entries = _entries(data_dir)
    listing = [e for e in entries if e["action"] == "user.list"]
    assert [e["http_request_id"] for e in listing] == [proxy_id]
    denied = [e for e in entries if e["action"] == "access.denied"]
    assert [e["http_request_id"] for e in denied] == [forbidden.headers["x-request-id"]]
    # Console actions (init, users add) ran outside any request: no member at all.
    assert "http_request_id" not in entries[0]


def test_a_plain_request_id_is_kept_anything_else_replaced() -> None:
    assert request_id_from("0af7651916cd43dd8448eb211c80319c") == "0af7651916cd43dd8448eb211c80319c"
    assert request_id_from("nginx.req_1-2") == "nginx.req_1-2"
    for bad in (None, "", "short", "x" * 65, "a b c d e f g h", "19121212-1212", "a@b.example.se",
                "id\r\nSet-Cookie: x"):  # fmt: skip
        replaced = request_id_from(bad)
        assert replaced != bad and len(replaced) == 32


def test_text_on_a_terminal_json_elsewhere_and_the_setting_wins() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Tty()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Tty()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
    record = logging.LogRecord("matcher.request", logging.INFO, "", 0, "request", None, None)
    record.__dict__.update(request_id="r1", status=200, route="/v1/hits")
    assert json.loads(JsonLines().format(record))["route"] == "/v1/hits"
    text = TextLines().format(record)
    assert "request" in text and "status=200" in text and "route=/v1/hits" in text


@pytest.mark.parametrize("log_format", ["text"])
def test_serve_log_format_flag_forces_text(tmp_path: Path, log_format: str) -> None:
    data_dir = tmp_path / "data"
    _cli_json("init", "--data-dir", str(data_dir))
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with _serve(data_dir, out, err, "--log-format", log_format) as base:
        httpx.get(f"{base}/healthz")
    logged = err.read_text(encoding="utf-8")
    assert "route=/healthz" in logged and "status=200" in logged
    assert "Serving the matcher" in out.read_text(encoding="utf-8")
