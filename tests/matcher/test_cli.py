"""The `matcher` command as an operator uses it: what it writes, prints and refuses.

Tokens printed by the CLI are checked against the real app (``create_app`` via TestClient);
``matcher serve`` is started as a subprocess on a free loopback port. The init and users tests
run against SQLite and, when CROSSCHECK_TEST_DATABASE_URL is set, against a fresh PostgreSQL
schema each (init must create the schema itself).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from contract import pem_fingerprint
from demo.server import serving
from matcher.app import create_app
from matcher.cli.main import main
from matcher.settings import load_settings
from tests.matcher.factories import auth, public_pem

PG_ENV = "CROSSCHECK_TEST_DATABASE_URL"
TOKEN = re.compile(r"\bcc_[A-Za-z0-9_-]{43}\b")
FINGERPRINT = re.compile(r"reveal key fingerprint: ([0-9a-f]{32})")
REPO = Path(__file__).parents[2]
SHIPPED = REPO / "policies" / "concurrent-tenancy.toml"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Cli(Protocol):
    def __call__(self, *args: str) -> Result: ...


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``main`` in-process; returns the exit code and what it printed."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def database_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """`init` arguments for the backend: none for the default SQLite file, or --database-url
    of a fresh, empty PostgreSQL schema (dropped afterwards), reached through search_path as
    tests/matcher/conftest.py does."""
    if request.param == "sqlite":
        yield []
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL CLI tests need {PG_ENV} (e.g. postgresql+psycopg://...); unset")
    schema = f"cc_cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield ["--database-url", url.render_as_string(hide_password=False)]
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class Matcher:
    data_dir: Path
    admin_token: str
    fingerprint: str
    init_out: str

    def client(self) -> TestClient:
        return TestClient(create_app(load_settings(self.data_dir)))


def _init(cli: Cli, data_dir: Path, *extra: str) -> Matcher:
    result = cli("init", "--data-dir", str(data_dir), *extra)
    assert result.code == 0, result.err
    tokens = TOKEN.findall(result.out)
    fingerprint = FINGERPRINT.search(result.out)
    assert len(tokens) == 1 and fingerprint is not None, result.out
    return Matcher(data_dir, tokens[0], fingerprint.group(1), result.out)


@pytest.fixture
def matcher(cli: Cli, tmp_path: Path) -> Matcher:
    return _init(cli, tmp_path / "data")


def _signing_key_file(folder: Path, company: str) -> Path:
    key = Ed25519PrivateKey.from_private_bytes(random.Random(f"cli-{company}").randbytes(32))
    path = folder / f"{company}-signing.pub"
    path.write_text(public_pem(key), encoding="ascii")
    return path


# --- init ---------------------------------------------------------------------------------


def test_init_writes_private_key_0600_and_prints_a_working_admin_token_once(
    cli: Cli, tmp_path: Path, database_args: list[str]
) -> None:
    m = _init(cli, tmp_path / "data", *database_args)

    key_file = m.data_dir / "keys" / "reveal.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert (m.data_dir / "blobs").is_dir()
    assert "shown only now" in m.init_out
    with m.client() as client:
        assert client.get("/v1/users", headers=auth(m.admin_token)).status_code == 200
        assert client.get("/v1/users").status_code == 401
        assert client.get("/readyz").status_code == 200


def test_init_twice_refuses_and_keeps_the_key_and_token(
    cli: Cli, tmp_path: Path, database_args: list[str]
) -> None:
    m = _init(cli, tmp_path / "data", *database_args)
    key_before = (m.data_dir / "keys" / "reveal.key").read_bytes()

    again = cli("init", "--data-dir", str(m.data_dir), *database_args)

    assert again.code == 2
    assert "initialised already" in again.err and "Traceback" not in again.err
    assert TOKEN.search(again.out) is None
    assert (m.data_dir / "keys" / "reveal.key").read_bytes() == key_before
    with m.client() as client:
        assert client.get("/v1/users", headers=auth(m.admin_token)).status_code == 200


def test_init_with_hybrid_kem_and_json_output(cli: Cli, tmp_path: Path) -> None:
    result = cli("init", "--data-dir", str(tmp_path / "d"), "--kem", "MLKEM768-X25519", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["reveal_kem"] == "MLKEM768-X25519"
    assert TOKEN.fullmatch(doc["admin_token"])
    public = (tmp_path / "d" / "keys" / "reveal.pub").read_bytes()
    assert public.count(b"-----BEGIN PUBLIC KEY-----") == 2
    assert doc["reveal_key_fingerprint"] == pem_fingerprint(public)


def test_init_refuses_an_unsupported_database_url_before_writing_anything(
    cli: Cli, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = cli("init", "--data-dir", str(data_dir), "--database-url", "mysql://root@localhost/x")
    assert result.code == 2
    assert "PostgreSQL" in result.err
    assert not data_dir.exists()


def test_data_dir_defaults_to_the_environment_variable(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSCHECK_DATA_DIR", str(tmp_path / "from-env"))
    assert cli("-q", "init").code == 0
    assert (tmp_path / "from-env" / "matcher.toml").is_file()
    listed = cli("users", "list", "--json")
    assert [u["name"] for u in json.loads(listed.out)] == ["admin"]


def test_commands_on_an_uninitialised_directory_say_to_run_init(cli: Cli, tmp_path: Path) -> None:
    result = cli("users", "list", "--data-dir", str(tmp_path / "nothing"))
    assert result.code == 2
    assert "matcher init" in result.err and "Traceback" not in result.err


# --- companies and users ------------------------------------------------------------------


def test_users_add_revoke_list_round_trip(
    cli: Cli, tmp_path: Path, database_args: list[str]
) -> None:
    m = _init(cli, tmp_path / "data", *database_args)
    d = ["--data-dir", str(m.data_dir)]
    key_file = _signing_key_file(tmp_path, "linbo")
    added = cli("companies", "add", "linbo", "--name", "Linbo", "--signing-key", str(key_file), *d)
    assert added.code == 0, added.err

    user = cli("users", "add", "anna", "--role", "investigator", "--company", "linbo", *d)
    assert user.code == 0, user.err
    assert "shown only now" in user.out
    (token,) = TOKEN.findall(user.out)

    table = cli("users", "list", *d)
    assert "anna" in table.out and "investigator" in table.out and "linbo" in table.out
    listed = {u["name"]: u for u in json.loads(cli("users", "list", "--json", *d).out)}
    assert listed["anna"]["role"] == "investigator" and listed["anna"]["revoked_at"] is None
    assert set(listed["anna"]) == {"name", "role", "company", "created_at", "revoked_at"}

    with m.client() as client:
        assert client.get("/v1/hits", headers=auth(token)).status_code == 200
        assert cli("users", "revoke", "anna", *d).code == 0
        assert client.get("/v1/hits", headers=auth(token)).status_code == 401
        assert client.get("/v1/users", headers=auth(m.admin_token)).status_code == 200

    listed = {u["name"]: u for u in json.loads(cli("users", "list", "--json", *d).out)}
    assert listed["anna"]["revoked_at"] is not None
    assert token not in cli("users", "list", *d).out


def test_users_add_and_revoke_refuse_clearly(cli: Cli, matcher: Matcher) -> None:
    d = ["--data-dir", str(matcher.data_dir)]
    no_company = cli("users", "add", "bo", "--role", "data_officer", *d)
    assert no_company.code == 1 and "bound to a company" in no_company.err
    unknown = cli("users", "add", "bo", "--role", "approver", "--company", "ghost", *d)
    assert unknown.code == 1 and "not registered" in unknown.err
    missing = cli("users", "revoke", "nobody", *d)
    assert missing.code == 1 and "no user named nobody" in missing.err
    assert TOKEN.search(no_company.out + unknown.out) is None


def _text_file(path: Path, content: str) -> Path:
    path.write_text(content, encoding="ascii")
    return path


def _x25519_public(path: Path) -> Path:
    key = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _ed25519_private(path: Path) -> Path:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize(
    ("make_file", "expected"),
    [
        (lambda p: p / "absent.pub", "does not exist"),
        (lambda p: _text_file(p / "garbage.pub", "hello"), "PEM"),
        (lambda p: _x25519_public(p / "x25519.pub"), "Ed25519"),
        (lambda p: _ed25519_private(p / "signing.key"), "PRIVATE key"),
        (lambda p: p, "directory"),
    ],
    ids=["missing", "not-pem", "wrong-algorithm", "private-key", "directory"],
)
def test_companies_add_with_a_bad_key_file_fails_clearly(
    cli: Cli, matcher: Matcher, tmp_path: Path, make_file: Callable[[Path], Path], expected: str
) -> None:
    folder = tmp_path / "keys-in"
    folder.mkdir()
    key_file: Path = make_file(folder)
    d = ["--data-dir", str(matcher.data_dir)]

    result = cli("companies", "add", "linbo", "--name", "Linbo", "--signing-key", str(key_file), *d)

    assert result.code == 1
    assert expected in result.err and "Traceback" not in result.err
    assert json.loads(cli("companies", "list", "--json", *d).out) == []


def test_companies_list_shows_the_signing_key_fingerprint(
    cli: Cli, matcher: Matcher, tmp_path: Path
) -> None:
    key_file = _signing_key_file(tmp_path, "hyresbo")
    d = ["--data-dir", str(matcher.data_dir)]
    assert (
        cli(
            "companies",
            "add",
            "hyresbo",
            "--name",
            "Hyresbo [AB]",
            "--signing-key",
            str(key_file),
            *d,
        ).code
        == 0
    )
    duplicate = cli(
        "companies", "add", "hyresbo", "--name", "x", "--signing-key", str(key_file), *d
    )
    assert duplicate.code == 1 and "registered already" in duplicate.err

    (company,) = json.loads(cli("companies", "list", "--json", *d).out)
    assert company["id"] == "hyresbo" and company["name"] == "Hyresbo [AB]"
    assert company["signing_key_fingerprint"] == pem_fingerprint(key_file.read_bytes())
    table = cli("companies", "list", *d).out
    assert "Hyresbo [AB]" in table  # shown literally, not read as rich markup


# --- keys ---------------------------------------------------------------------------------


def test_keys_reveal_public_writes_the_pem_init_fingerprinted(
    cli: Cli, matcher: Matcher, tmp_path: Path
) -> None:
    out = tmp_path / "handover" / "reveal.pub"
    out.parent.mkdir()
    result = cli("keys", "reveal-public", "--data-dir", str(matcher.data_dir), "--out", str(out))

    assert result.code == 0, result.err
    pem = out.read_bytes()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----") and b"PRIVATE" not in pem
    assert pem_fingerprint(pem) == matcher.fingerprint
    assert f"reveal key fingerprint: {matcher.fingerprint}" in result.out


# --- run ----------------------------------------------------------------------------------


def test_run_refuses_without_an_active_policy_and_says_how_to_activate(
    cli: Cli, matcher: Matcher
) -> None:
    result = cli("run", "--run-date", "2026-11-30", "--data-dir", str(matcher.data_dir))
    assert result.code == 1
    assert "matcher policies activate FILE" in result.err and "Traceback" not in result.err
    assert "run " not in result.out


def test_run_with_policy_activates_it_first(cli: Cli, matcher: Matcher) -> None:
    d = ["--data-dir", str(matcher.data_dir)]
    result = cli("run", "--run-date", "2026-11-30", "--policy", str(SHIPPED), "--json", *d)
    assert result.code == 0, result.err
    listed = json.loads(cli("policies", "list", "--json", *d).out)
    assert [(p["id"], p["status"]) for p in listed] == [("concurrent-tenancy", "active")]
    assert json.loads(result.out)["policy_digest"] == listed[0]["digest"]


def test_run_without_extracts_stores_a_run_with_zero_hits(cli: Cli, matcher: Matcher) -> None:
    d = ["--data-dir", str(matcher.data_dir)]
    assert cli("policies", "activate", str(SHIPPED), *d).code == 0
    shown = cli("run", "--run-date", "2026-11-30", *d)
    assert shown.code == 0, shown.err
    assert "concurrent-tenancy" in shown.out and "all rules" in shown.out

    result = cli("run", "--run-date", "2026-11-30", "--json", *d)
    assert result.code == 0, result.err
    run = json.loads(result.out)
    assert run["status"] == "succeeded" and run["run_date"] == "2026-11-30"
    assert run["policy_id"] == "concurrent-tenancy" and run["policy_digest"].startswith("sha256:")
    assert run["counts"]["hits"] == 0
    assert all(b == {"strong": 0, "review": 0} for b in run["counts"]["rules"].values())
    with matcher.client() as client:
        stored = client.get(f"/v1/runs/{run['id']}", headers=auth(matcher.admin_token))
    assert stored.status_code == 200 and stored.json()["policy_digest"] == run["policy_digest"]


def test_run_with_a_missing_policy_file_fails_clearly(
    cli: Cli, matcher: Matcher, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-policy.toml"
    result = cli("run", "--data-dir", str(matcher.data_dir), "--policy", str(missing))
    assert result.code == 1
    assert str(missing) in result.err and "does not exist" in result.err
    assert "Traceback" not in result.err and "run " not in result.out


# --- help and usage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["init"],
        ["db", "upgrade"],
        ["serve"],
        ["keys", "reveal-public"],
        ["companies", "add"],
        ["companies", "list"],
        ["users", "add"],
        ["users", "revoke"],
        ["users", "list"],
        ["run"],
        ["policies", "activate"],
        ["policies", "retire"],
        ["policies", "list"],
        ["audit", "export"],
        ["audit", "public-key"],
        ["tokens", "add"],
        ["tokens", "list"],
        ["tokens", "rotate"],
        ["tokens", "revoke"],
    ],
    ids=" ".join,
)
def test_every_command_explains_itself_with_examples(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"matcher {command[0]}" in text
    assert "CROSSCHECK_DATA_DIR" in text


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["frobnicate"],
        ["users", "add", "x", "--role", "emperor"],
        ["run", "--run-date", "30/11"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


# --- serve --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_answers_health_probes_and_logs_no_tokens(matcher: Matcher, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "matcher.cli.main",
                "serve",
                "--data-dir",
                str(matcher.data_dir),
                "--port",
                str(port),
            ],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 15
            health = None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    health = httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert health is not None, log.read_text()
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            users = httpx.get(f"{base}/v1/users", headers=auth(matcher.admin_token), timeout=5)
            assert users.status_code == 200
            # A subject report's query holds a person's token: the access log keeps the path.
            report = httpx.get(
                f"{base}/v1/subject-report",
                params={"token": "ab" * 32},
                headers=auth(matcher.admin_token),
                timeout=5,
            )
            assert report.status_code == 200
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    logged = log.read_text()
    # Not a terminal: JSON Lines, one `request` event per request, the route template only.
    assert '"route": "/healthz"' in logged
    assert '"route": "/v1/subject-report"' in logged
    assert matcher.admin_token not in logged
    assert "ab" * 32 not in logged


def test_serve_on_a_busy_port_says_which_port_and_how_to_choose_another(
    matcher: Matcher, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "matcher.cli.main",
                "serve",
                "--data-dir",
                str(matcher.data_dir),
                "--port",
                str(port),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert "--port" in message
    assert "Serving" not in done.stdout
    assert "Errno" not in done.stderr and "Traceback" not in done.stderr


def _bogus_token() -> str:
    return "cc_" + secrets.token_urlsafe(32)


@pytest.mark.parametrize("trusted", [True, False])
def test_serve_forwarded_allow_ips_decides_whose_forwarded_headers_count(
    matcher: Matcher, tmp_path: Path, trusted: bool
) -> None:
    # Two failures lock a source out: the throttle shows which address the server believed.
    with (matcher.data_dir / "matcher.toml").open("a", encoding="utf-8") as toml:
        toml.write("auth_failure_limit = 2\nauth_failure_delay_seconds = 0\n")
    extra = ("--forwarded-allow-ips", "127.0.0.1") if trusted else ()
    with serving(matcher.data_dir, tmp_path / "serve.log", extra=extra) as url:
        for _ in range(2):
            first = httpx.get(
                f"{url}/v1/hits",
                headers={**auth(_bogus_token()), "X-Forwarded-For": "203.0.113.5"},
            )
            assert first.status_code == 401
        locked = httpx.get(
            f"{url}/v1/hits", headers={**auth(_bogus_token()), "X-Forwarded-For": "203.0.113.5"}
        )
        assert locked.status_code == 429
        other = httpx.get(
            f"{url}/v1/hits", headers={**auth(_bogus_token()), "X-Forwarded-For": "198.51.100.7"}
        )
        https = httpx.get(f"{url}/healthz", headers={"X-Forwarded-Proto": "https"})
    if trusted:
        # Behind the trusted proxy each forwarded client is its own source, and https is https.
        assert other.status_code == 401
        assert "max-age=" in https.headers["strict-transport-security"]
    else:
        # Nobody is trusted (uvicorn's own default trust of 127.0.0.1 is off): the headers are
        # the client's word, so both "clients" are the loopback, and plain http stays plain.
        assert other.status_code == 429
        assert "strict-transport-security" not in https.headers


def test_serve_refuses_a_wildcard_or_malformed_forwarded_allow_ips(
    cli: Cli, matcher: Matcher
) -> None:
    for value, expected in (
        ("*", "any client choose its own address"),
        ("10.0.0.300", "10.0.0.300"),
    ):
        result = cli("serve", "--data-dir", str(matcher.data_dir), "--forwarded-allow-ips", value)
        assert result.code == 2, result.err
        message = " ".join(result.err.split())
        assert "--forwarded-allow-ips" in message and expected in message
