"""The attack suite's fixtures: a real `matcher serve` on 127.0.0.1 with a fresh data directory.

`service` is one server for the module's attacks, once on SQLite (in the data directory) and
once on PostgreSQL (a schema of its own in CROSSCHECK_TEST_DATABASE_URL); the throttle
trusts 127.0.0.1 as a proxy, so the attacks can come "from" several addresses through
X-Forwarded-For). `fresh_data_dir` makes an initialised data directory for attacks that stop
and start the server themselves (a crash, file modes).
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, make_url, text

from demo.server import serving
from matcher.cli.main import main as matcher
from matcher.settings import Settings

PG_ENV = "CROSSCHECK_TEST_DATABASE_URL"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cli_json(*argv: str) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert matcher([*argv, "--json"]) == 0
    result: dict[str, str] = json.loads(out.getvalue())
    return result


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@dataclass(frozen=True)
class Service:
    url: str
    data_dir: Path
    tokens: dict[str, str]  # user name -> token
    log: Path

    def client(self, address: str | None = None) -> httpx.Client:
        """A client whose requests come from ``address`` (per the trusted loopback proxy)."""
        headers = {"X-Forwarded-For": address} if address else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def sign_in(self, client: httpx.Client, token: str) -> httpx.Response:
        form = client.get("/web/sign-in")
        return client.post("/web/sign-in", data={"token": token, "csrf_token": csrf_of(form.text)})


@contextmanager
def database(kind: str) -> Iterator[str]:
    """ "" for SQLite (init's default: a file in the data directory), or a PostgreSQL URL whose
    search path is a fresh schema, dropped afterwards; skips without PostgreSQL."""
    if kind == "sqlite":
        yield ""
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL attacks need {PG_ENV} (e.g. postgresql+psycopg://...); unset")
    schema = f"cc_sec_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def init(data_dir: Path, database_url: str = "") -> str:
    """`matcher init` with the throttle trusting the loopback proxy; the admin's token."""
    extra = ("--database-url", database_url) if database_url else ()
    admin = cli_json("init", "--data-dir", str(data_dir), *extra)["admin_token"]
    if "trusted_proxies" in Settings.model_fields:  # so the suite also runs on older code
        with (data_dir / "matcher.toml").open("a", encoding="utf-8") as toml:
            toml.write('trusted_proxies = ["127.0.0.1"]\n')
    return admin


@pytest.fixture
def fresh_data_dir(tmp_path: Path) -> tuple[Path, str]:
    data_dir = tmp_path / "matcher-data"
    return data_dir, init(data_dir)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service_database(request: pytest.FixtureRequest) -> Iterator[str]:
    with database(request.param) as url:
        yield url


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, service_database: str) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("security")
    data_dir = root / "matcher-data"
    tokens = {"admin": init(data_dir, service_database)}
    key = root / "signing.pub"
    key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    d = ("--data-dir", str(data_dir))
    assert matcher(["-q", "companies", "add", "acme", "--name", "Acme", "--signing-key",
                    str(key), *d]) == 0  # fmt: skip
    for name, role, company in (
        ("inv", "investigator", "acme"),
        ("aud", "auditor", None),
        ("other", "auditor", None),
        ("leaver", "auditor", None),
    ):
        extra = ("--company", company) if company else ()
        tokens[name] = cli_json("users", "add", name, "--role", role, *extra, *d)["token"]
    log = root / "serve.log"
    with serving(data_dir, log) as url:
        yield Service(url, data_dir, tokens, log)
