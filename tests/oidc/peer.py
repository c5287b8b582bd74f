"""The test suite's OpenID Provider (tests/oidc/provider.mjs, panva/oidc-provider on Node.js)
and a tampering proxy in front of its token endpoint.

The test makes the provider's signing keys itself, so the proxy can mint ID tokens the
provider's key really signed but with a wrong audience or a past expiry; or sign with another
key under the same key id; or hand back an earlier sign-in's ID token (another nonce). The
matcher is pointed at the proxy through the issuer's ``metadata_url``: everything but the
token endpoint is the provider's own.

Node.js and the npm packages (``npm ci`` in tests/oidc, run by `make test` and .ci/run) are
needed; :func:`require_node` skips, saying why, when they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from demo.server import free_port

__all__ = ["OpenIdPeer", "TamperProxy", "new_key", "require_node", "running_peer", "tamper_proxy"]

HERE = Path(__file__).parent
# Set by .ci/run: there the provider must run, a skip would hide that it did not.
REQUIRE_ENV = "CROSSCHECK_REQUIRE_TEST_PEERS"
PROVIDER = HERE / "provider.mjs"


def require_node() -> str:
    """The node binary; skips (fails in CI, which must run these tests) when it is missing."""
    missing = pytest.fail if os.environ.get(REQUIRE_ENV) == "1" else pytest.skip
    node = shutil.which("node")
    if node is None:
        missing("Node.js is not installed: the OpenID Provider of these tests runs on it")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        missing(
            "tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc` "
            "(`make test` and .ci/run do it)"
        )
    assert node is not None
    return node


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


class OpenIdPeer:
    """A running provider: its issuer URL, keys, and accounts that can change while it runs."""

    def __init__(self, root: Path, config: dict[str, Any], keys: list[RSAKey]) -> None:
        self.root = root
        self.config = config
        self.keys = keys
        self.issuer: str = config["issuer"]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        node = require_node()
        self.config["jwks"] = {"keys": [key.as_dict(private=True) for key in self.keys]}
        path = self.root / "provider.json"
        path.write_text(json.dumps(self.config), encoding="utf-8")
        log = (self.root / "provider.log").open("ab")
        self._process = subprocess.Popen(
            [node, str(PROVIDER), str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=HERE
        )
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the test provider exited; see {self.root / 'provider.log'}")
            try:
                found = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if found.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the test provider did not start within 30 s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def rotate(self, key: RSAKey) -> None:
        """The provider signs with ``key`` from now on, and publishes only it."""
        self.stop()
        self.keys = [key]
        self.start()

    def put_account(self, login: str, claims: dict[str, Any]) -> None:
        httpx.put(f"{self.issuer}/test/accounts/{login}", json=claims).raise_for_status()

    def delete_account(self, login: str) -> None:
        httpx.delete(f"{self.issuer}/test/accounts/{login}").raise_for_status()


@contextmanager
def running_peer(
    root: Path, *, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]]
) -> Iterator[OpenIdPeer]:
    port = free_port()
    config = {
        "issuer": f"http://127.0.0.1:{port}",
        "port": port,
        "clients": clients,
        "accounts": accounts,
    }
    peer = OpenIdPeer(root, config, [new_key("key-1")])
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


class TamperProxy:
    """Serves the provider's metadata with its own token endpoint, and changes ID tokens.

    ``mode``: "pass" (unchanged; the token is kept in ``last_id_token``), "other-key",
    "other-audience", "expired", "replay" (the kept token of an earlier sign-in)."""

    def __init__(self, peer: OpenIdPeer) -> None:
        self.peer = peer
        self.mode = "pass"
        self.last_id_token: str | None = None
        self.url = ""

    def _forge(self, id_token: str) -> str:
        provider_key = self.peer.keys[0]
        claims = dict(jwt.decode(id_token, provider_key).claims)
        header = {"alg": "RS256", "kid": provider_key.kid}
        if self.mode == "other-key":
            return jwt.encode(header, claims, new_key(provider_key.kid or "key-1"))
        if self.mode == "other-audience":
            claims["aud"] = "another-service"
        elif self.mode == "expired":
            now = int(time.time())
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "replay":
            assert self.last_id_token is not None, "sign in once in mode 'pass' first"
            return self.last_id_token
        return jwt.encode(header, claims, provider_key)

    async def metadata(self, request: Request) -> Response:
        async with httpx.AsyncClient() as client:
            found = (
                await client.get(f"{self.peer.issuer}/.well-known/openid-configuration")
            ).json()
        found["token_endpoint"] = f"{self.url}/token"
        return JSONResponse(found)

    async def token(self, request: Request) -> Response:
        body = await request.body()
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() in ("authorization", "content-type", "accept")
        }
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{self.peer.issuer}/token", content=body, headers=headers)
        found = answer.json()
        if answer.status_code == 200 and "id_token" in found:
            if self.mode == "pass":
                self.last_id_token = found["id_token"]
            else:
                found["id_token"] = self._forge(found["id_token"])
        return JSONResponse(found, status_code=answer.status_code)


@contextmanager
def tamper_proxy(peer: OpenIdPeer) -> Iterator[TamperProxy]:
    proxy = TamperProxy(peer)
    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", proxy.metadata),
            Route("/token", proxy.token, methods=["POST"]),
        ]
    )
    port = free_port()
    proxy.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the tamper proxy did not start")
        time.sleep(0.05)
    try:
        yield proxy
    finally:
        server.should_exit = True
        thread.join(timeout=10)
