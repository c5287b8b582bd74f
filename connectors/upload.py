"""Upload a package to the matcher: streamed, retried, safe to repeat.

The client comes in as an argument (an ``httpx.Client``): the CLI passes a real one, unit tests
an ``httpx.MockTransport``, end-to-end tests the app's ``TestClient``. Retrying is safe because
the matcher treats the identical package as a no-op that returns the same extract id.

Refusals (4xx) become one clear sentence each, from the problem ``type`` the matcher sends
(RFC 9457; the list is in ``matcher/api/problems.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from connectors.errors import PackageError, UploadError
from connectors.package import read_manifest
from contract import MANIFEST_FILE, RECORDS_FILE

__all__ = [
    "TOKEN_VARIABLE",
    "UploadResult",
    "read_token",
    "upload_package",
]

TOKEN_VARIABLE = "CROSSCHECK_TOKEN"  # noqa: S105 - the variable's name, not a token
_PROBLEMS = "https://crosscheck.invalid/problems/"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    extract_id: str
    created: bool  # False: the matcher already had this exact package
    rows: int
    attempts: int


def read_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str:
    """The data officer's API token: $CROSSCHECK_TOKEN, else the profile's token file."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    if token_file is not None:
        if not token_file.exists():
            raise UploadError(
                f"the token file {token_file} named in the profile does not exist; save the "
                f"token the matcher's operator gave you there, or set {TOKEN_VARIABLE}"
            )
        token = token_file.read_text(encoding="utf-8").strip()
        if token:
            return token
    raise UploadError(
        f"no API token: set the environment variable {TOKEN_VARIABLE}, or name a token file as "
        "token_file under [matcher] in the profile (ask the matcher's operator for a "
        "data_officer token)"
    )


class _CountingReader:
    """A file wrapper that reports how many bytes httpx has read, for the progress bar."""

    def __init__(self, raw: IO[bytes], seen: Callable[[int], None]) -> None:
        self._raw = raw
        self._seen = seen

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(_CHUNK if size is None or size < 0 else size)
        if chunk:
            self._seen(len(chunk))
        return chunk

    def fileno(self) -> int:
        # lets httpx learn the size, so the request has a Content-Length the matcher can check
        return self._raw.fileno()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_CHUNK):
            yield chunk


def _sentence(
    status: int, problem: dict[str, Any], company_id: str, signing_key: Path | None
) -> str:
    kind = str(problem.get("type", "")).removeprefix(_PROBLEMS)
    detail = str(problem.get("detail", "")).strip()
    key_file = str(signing_key) if signing_key else "your workspace's signing.key"
    sentences = {
        "unauthenticated": "the matcher did not accept the API token (unknown, revoked or "
        f"mistyped); ask the matcher's operator for a data_officer token and set {TOKEN_VARIABLE}",
        "forbidden": "the token is valid but its role may not upload; a data_officer token is "
        "needed",
        "foreign-company": f"the package is for another company than the token's; upload it "
        f"with a token of company {company_id}'s data officer",
        "bad-signature": f"the matcher rejected the signature: the key registered for company "
        f"{company_id} is not the one in {key_file} (send signing.pub to the matcher's operator "
        "to register it)",
        "unknown-company": f"company {company_id} is not registered at this matcher; send "
        "signing.pub to the matcher's operator",
        "reveal-key-mismatch": "the package is sealed to another reveal key than the matcher's "
        "current one; get the current key (`matcher keys reveal-public`), check its fingerprint "
        "with the operator, save it as reveal.pub in the workspace and pseudonymise again",
        "incomparable-encoding": "the package was made with another matching key or encoding "
        f"than company {problem.get('company', 'another participant')}'s current extract, so "
        "they could not be compared; check with the key custodian that every company uses the "
        "same matching key epoch and connector version",
        "integrity-mismatch": "the records file does not match its manifest (changed or "
        "truncated after it was written); pseudonymise again",
        "bad-parquet": "records.parquet could not be read (truncated or damaged); pseudonymise "
        "again",
        "schema-mismatch": "records.parquet does not have the contract's columns; pseudonymise "
        "again with the current connector",
        "bad-manifest": "manifest.json is not a valid manifest; pseudonymise again",
        "replayed-package": "this package is older than the extract the matcher already has "
        "from your company; upload the newest package instead",
        "extract-id-reused": "the extract id of this package names different content at the "
        "matcher; pseudonymise again to get a new package",
        "unsupported-contract": "the matcher does not support this package's contract version; "
        "update the connector",
        "payload-too-large": "the package is larger than the matcher accepts; ask the operator "
        "to raise the limit",
        "conflict": "another upload for your company is in progress; try again in a minute",
    }
    sentence = sentences.get(kind, f"the matcher refused the upload (HTTP {status})")
    return f"{sentence}. Matcher said: {detail}" if detail else sentence


def upload_package(
    package: Path,
    *,
    client: httpx.Client,
    token: str,
    signing_key: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    retries: int = 5,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadResult:
    """Upload `package` (a folder with manifest.json and records.parquet).

    Connection errors, timeouts and 5xx are retried with exponential backoff (`retries` times);
    any 4xx raises :class:`UploadError` with a sentence saying what to do.
    `progress(sent, total)` is called as the records file streams.
    """
    manifest_path = package / MANIFEST_FILE
    records_path = package / RECORDS_FILE
    if not records_path.exists():
        raise PackageError(f"{records_path} is missing; is {package} a package folder?")
    manifest = read_manifest(package)
    manifest_bytes = manifest_path.read_bytes()
    total = records_path.stat().st_size
    headers = {"Authorization": f"Bearer {token}"}

    for attempt in range(1, retries + 2):
        sent = 0

        def seen(n: int) -> None:
            nonlocal sent
            sent += n
            if progress is not None:
                progress(sent, total)

        try:
            with records_path.open("rb") as raw:
                # The manifest goes first: the matcher checks it before reading the records.
                files: dict[str, Any] = {
                    "manifest": (MANIFEST_FILE, manifest_bytes, "application/json"),
                    "records": (
                        RECORDS_FILE,
                        _CountingReader(raw, seen),
                        "application/vnd.apache.parquet",
                    ),
                }
                response = client.post("/v1/extracts", files=files, headers=headers)
        except httpx.TransportError as error:
            if attempt > retries:
                raise UploadError(
                    f"could not reach the matcher at {client.base_url} after {attempt} attempts "
                    f"({type(error).__name__}); check the URL under [matcher] in the profile and "
                    "the network, then run the same command again (it is safe to repeat)"
                ) from None
            sleep(backoff * 2 ** (attempt - 1))
            continue
        if response.status_code >= 500:
            if attempt > retries:
                raise UploadError(
                    f"the matcher failed with HTTP {response.status_code} after {attempt} "
                    "attempts; tell the matcher's operator, then run the same command again "
                    "(it is safe to repeat)"
                )
            sleep(backoff * 2 ** (attempt - 1))
            continue
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise UploadError(
                _sentence(response.status_code, problem, manifest.company_id, signing_key)
            )
        body = response.json()
        return UploadResult(
            extract_id=str(body["id"]),
            created=response.status_code == 201,
            rows=int(body.get("rows", manifest.row_count)),
            attempts=attempt,
        )
    raise AssertionError("unreachable")  # pragma: no cover
