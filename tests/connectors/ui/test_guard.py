"""`connector ui`'s door, without a browser: 127.0.0.1 only, a one-time link, a cookie, the
Host header, CSRF form tokens, security headers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from connectors import pseudonymise
from connectors.cli.main import main
from connectors.errors import ConnectorError
from connectors.ui import RunningUi, UiSettings, bind, prepare
from tests.connectors.ui.conftest import make_workspace


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    return make_workspace(tmp_path, "linbo", "http://127.0.0.1:9", tmp_path / "reveal.pub")


def _signed_in(running: RunningUi) -> httpx.Client:
    client = httpx.Client(base_url=running.base_url, timeout=10)
    response = client.get(running.start_url)
    assert response.status_code == 303
    return client


def test_the_start_link_works_once_and_then_only_the_cookie_lets_in(
    profile: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    running = serve_ui(profile)
    link = running.start_url
    first = httpx.Client(base_url=running.base_url, timeout=10)
    response = first.get(link)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert first.get("/").status_code == 200

    # the same link again (another browser, or someone who read it over a shoulder): refused
    second = httpx.Client(base_url=running.base_url, timeout=10)
    assert second.get(link).status_code == 403
    for path in ("/", "/mapping", "/check", "/status/upload", "/static/ui.css"):
        assert second.get(path).status_code == 403, path
    wrong = httpx.Client(base_url=running.base_url, timeout=10, cookies={"crosscheck_ui": "x"})
    assert wrong.get("/").status_code == 403


def test_a_wrong_host_header_is_refused_even_with_the_cookie(
    profile: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    running = serve_ui(profile)
    client = _signed_in(running)
    port = running.guard.port
    assert client.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}"):
        assert client.get("/", headers={"Host": host}).status_code == 403, host


def test_a_post_without_the_form_token_or_from_another_origin_is_refused(
    profile: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    running = serve_ui(profile)
    client = _signed_in(running)
    page = client.get("/").text
    form_token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert form_token is not None
    data = {"export": "x.csv", "as_of": "2026-11-01", "max_error_rate": "0.05"}
    assert client.post("/export", data=data).status_code == 403
    assert client.post("/export", data={**data, "form_token": "guess"}).status_code == 403
    foreign = {"Origin": "http://evil.example"}
    assert (
        client.post("/export", data={**data, "form_token": form_token[1]}, headers=foreign)
    ).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "null"}
    assert (
        client.post("/export", data={**data, "form_token": form_token[1]}, headers=cross)
    ).status_code == 403
    ok = client.post("/export", data={**data, "form_token": form_token[1]})
    assert ok.status_code == 200  # the page again, saying the file was not found


def test_every_answer_has_the_security_headers(
    profile: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    running = serve_ui(profile)
    client = _signed_in(running)
    for response in (client.get("/"), httpx.get(running.base_url + "/")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in client.get("/").text and " style=" not in client.get("/").text


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost", "::"])
def test_it_binds_to_127_0_0_1_only(host: str, profile: Path) -> None:
    with pytest.raises(ConnectorError, match=r"127\.0\.0\.1 only"):
        bind(host, 0)
    with pytest.raises(ConnectorError, match=r"127\.0\.0\.1 only"):
        prepare(UiSettings(profile=profile), host)
    assert main(["ui", "--profile", str(profile), "--host", host, "--no-browser"]) == 2


def test_the_listening_socket_is_on_the_loopback_address(profile: Path) -> None:
    running = prepare(UiSettings(profile=profile))
    try:
        assert running.sock.getsockname()[0] == "127.0.0.1"
        assert running.start_url.startswith(f"http://127.0.0.1:{running.guard.port}/start?token=")
    finally:
        running.sock.close()


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ui", "--help"])
    assert "connector ui --profile ws/connector.toml" in capsys.readouterr().out


def test_without_the_extra_it_says_what_to_install(
    profile: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["ui", "--profile", str(profile), "--no-browser"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "uvicorn not installed" in err and "crosscheck[connector-ui]" in err


def test_pseudonymise_reports_its_progress_as_json_for_the_bar(
    profile: Path, serve_ui: Callable[[Path], RunningUi], tmp_path: Path
) -> None:
    import time

    from connectors.profile import load_profile

    running = serve_ui(profile)
    client = _signed_in(running)
    assert client.get("/status/pseudonymise").status_code == 404  # no job yet
    token = re.search(r'name="form_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    export = Path(__file__).parents[2] / "data" / "good_english.csv"
    client.post("/export", data={"form_token": token[1], "export": str(export),
                                 "as_of": "2026-11-01", "max_error_rate": "0.05"})  # fmt: skip
    fields = {c: f for f, c in load_profile(profile).mapping.items()}
    data = {"form_token": token[1], **{f"field:{c}": f for c, f in fields.items()}}
    assert client.post("/mapping", data=data).headers["location"] == "/check"
    assert 'action="/pseudonymise"' in client.get("/check").text
    out = tmp_path / "pkg"
    client.post("/pseudonymise", data={"form_token": token[1], "out": str(out)})
    deadline = time.monotonic() + 60
    while (status := client.get("/status/pseudonymise").json())["state"] == "running":
        assert 0 <= status["done"] <= status["total"] == 4
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == {"name": "pseudonymise", "state": "done", "done": 4, "total": 4,
                      "step": "writing package"}  # fmt: skip
    assert client.get("/pseudonymise").headers["location"] == "/package"
    assert (out / "manifest.json").exists()
    assert 'id="package-clean"' in client.get("/package").text


def test_a_profile_broken_while_the_ui_runs_is_shown_not_a_server_error(
    profile: Path, serve_ui: Callable[[Path], RunningUi]
) -> None:
    running = serve_ui(profile)
    client = _signed_in(running)
    token = re.search(r'name="form_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    export = Path(__file__).parents[2] / "data" / "good_english.csv"
    client.post("/export", data={"form_token": token[1], "export": str(export),
                                 "as_of": "2026-11-01", "max_error_rate": "0.05"})  # fmt: skip
    profile.write_text(profile.read_text(encoding="utf-8") + "\n[nonsense]\n", encoding="utf-8")
    for path in ("/", "/mapping", "/check"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "unknown section" in response.text, path


def test_connector_ui_prints_a_link_that_works_once_and_ctrl_c_ends_it(profile: Path) -> None:
    import signal
    import subprocess
    import sys

    ui = subprocess.Popen(
        [sys.executable, "-m", "connectors.cli.main", "ui", "--profile", str(profile),
         "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert ui.stdout is not None
        link = None
        for line in ui.stdout:
            if "/start?token=" in line:
                link = line.strip()
                break
        assert link is not None and link.startswith("http://127.0.0.1:")
        with httpx.Client(timeout=10) as client:
            for _ in range(100):
                try:
                    first = client.get(link)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert first.status_code == 303
            assert client.get(link).status_code == 403
        ui.send_signal(signal.SIGINT)
        assert ui.wait(timeout=20) == 130  # as every connector command on Ctrl-C
        assert ui.stderr is not None
        assert "Traceback" not in ui.stderr.read()
    finally:
        if ui.poll() is None:
            ui.kill()
