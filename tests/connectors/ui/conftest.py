"""Fixtures of the `connector ui` tests: a real matcher, a company workspace, the ui served by
a real uvicorn on a free port, and a TCP relay between connector and matcher that can drop an
upload half-way (the matcher going away mid-upload)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from connectors.cli.main import main
from connectors.ui import RunningUi, UiSettings, start_in_thread
from demo.server import serving
from matcher.settings import init_data_dir
from tests.e2e.story import bearer

if TYPE_CHECKING:
    pass

DATA = Path(__file__).parents[2] / "data"
CORPUS = DATA / "corpus"


class Relay:
    """127.0.0.1:port -> the matcher. With `drop_after` set, a connection is cut once that
    many request bytes went through, before the matcher could answer."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.drop_after: int | None = None
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        limit = self.drop_after
        upstream = socket.create_connection(self.target)

        def back() -> None:
            try:
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)
            except OSError:
                pass
            finally:
                client.close()

        threading.Thread(target=back, daemon=True).start()
        seen = 0
        try:
            while chunk := client.recv(65536):
                seen += len(chunk)
                if limit is not None and seen > limit:
                    self.dropped += 1
                    client.shutdown(socket.SHUT_RDWR)
                    upstream.close()
                    client.close()
                    return
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            upstream.close()

    def close(self) -> None:
        self._listener.close()


@dataclass(frozen=True)
class Matcher:
    url: str
    admin: dict[str, str]
    reveal_pub: Path


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matcher]:
    root = tmp_path_factory.mktemp("ui-matcher")
    settings, admin_token = init_data_dir(root / "matcher", None)
    with serving(settings.data_dir, root / "serve.log") as url:
        yield Matcher(url, bearer(admin_token), settings.reveal_public_key_path)


@pytest.fixture(scope="module")
def relay(matcher: Matcher) -> Iterator[Relay]:
    r = Relay(matcher.url)
    yield r
    r.close()


@pytest.fixture(scope="session")
def matching_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One group key for every company of the session (the matcher compares only packages
    made with the same key)."""
    key = tmp_path_factory.mktemp("group") / "matching.key"
    assert main(["-q", "keys", "new-matching-key", "--out", str(key)]) == 0
    return key


def make_workspace(
    root: Path, company: str, matcher_url: str, reveal: Path, key: Path | None = None
) -> Path:
    """`connector init` as the key custodian runs it once (from another export than the one
    the data officer then chooses in the ui); returns the profile."""
    if key is None:
        key = root / "matching.key"
        assert main(["-q", "keys", "new-matching-key", "--out", str(key)]) == 0
    workspace = root / f"ws-{company}"
    assert (
        main(
            [
                "-q",
                "init",
                str(workspace),
                "--company",
                company,
                "--matching-key",
                str(key),
                "--sample",
                str(DATA / "good_english.csv"),
                "--reveal-key",
                str(reveal),
                "--matcher-url",
                matcher_url,
            ]
        )
        == 0
    )
    return workspace / "connector.toml"


def register(matcher: Matcher, company: str, profile: Path) -> str:
    """Register the company at the matcher; returns its data officer's token."""
    signing = (profile.parent / "signing.pub").read_text(encoding="ascii")
    with httpx.Client(base_url=matcher.url, timeout=30) as client:
        response = client.post(
            "/v1/companies",
            json={"id": company, "name": company.title(), "signing_public_key": signing},
            headers=matcher.admin,
        )
        assert response.status_code == 201, response.text
        response = client.post(
            "/v1/users",
            json={"name": f"{company}-do", "role": "data_officer", "company_id": company},
            headers=matcher.admin,
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


@pytest.fixture
def serve_ui() -> Iterator[Callable[[Path], RunningUi]]:
    started: list[RunningUi] = []

    def start(profile: Path) -> RunningUi:
        running = start_in_thread(
            UiSettings(profile=profile, upload_retries=1, upload_backoff=0.05)
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
