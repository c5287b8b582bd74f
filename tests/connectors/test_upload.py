"""The uploader against a scripted matcher (httpx.MockTransport): retries, refusals, tokens."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from connectors.errors import UploadError
from connectors.upload import read_token, upload_package

PROBLEMS = "https://crosscheck.invalid/problems/"


def _client(responses: list[httpx.Response | Exception], seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        item = responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.Client(base_url="http://matcher.test", transport=httpx.MockTransport(handler))


def _created(status: int = 201) -> httpx.Response:
    return httpx.Response(status, json={"id": "4b1d", "rows": 11})


def _problem(status: int, kind: str, **extra: str) -> httpx.Response:
    body = {"type": PROBLEMS + kind, "title": kind, "status": status, "detail": "", **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def test_sends_manifest_then_records_with_the_token(made_package: tuple[Path, Path]) -> None:
    package, _ = made_package
    seen: list[httpx.Request] = []
    progress: list[tuple[int, int]] = []
    result = upload_package(
        package,
        client=_client([_created()], seen),
        token="cc_secret",
        progress=lambda sent, total: progress.append((sent, total)),
    )
    assert (result.extract_id, result.created, result.attempts) == ("4b1d", True, 1)
    (request,) = seen
    assert request.headers["authorization"] == "Bearer cc_secret"
    assert int(request.headers["content-length"]) > (package / "records.parquet").stat().st_size
    body = request.content
    assert body.index(b'name="manifest"') < body.index(b'name="records"')
    total = (package / "records.parquet").stat().st_size
    assert progress[-1] == (total, total)


def test_repeated_package_is_reported_as_unchanged(made_package: tuple[Path, Path]) -> None:
    result = upload_package(made_package[0], client=_client([_created(200)], []), token="t")
    assert not result.created


def test_server_errors_and_dropped_connections_are_retried_with_backoff(
    made_package: tuple[Path, Path],
) -> None:
    waits: list[float] = []
    responses: list[httpx.Response | Exception] = [
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        _created(),
    ]
    result = upload_package(
        made_package[0], client=_client(responses, []), token="t", sleep=waits.append
    )
    assert result.attempts == 4
    assert waits == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retries_and_says_it_is_safe_to_repeat(
    made_package: tuple[Path, Path],
) -> None:
    responses: list[httpx.Response | Exception] = [httpx.ConnectError("refused")] * 3
    with pytest.raises(UploadError, match="safe to repeat"):
        upload_package(
            made_package[0],
            client=_client(responses, []),
            token="t",
            retries=2,
            sleep=lambda s: None,
        )


@pytest.mark.parametrize(
    ("response", "sentence"),
    [
        (_problem(422, "bad-signature"), "the key registered for company linbo is not the one in"),
        (_problem(409, "incomparable-encoding", company="norrhem"), "company norrhem's current"),
        (_problem(401, "unauthenticated"), "CROSSCHECK_TOKEN"),
        (_problem(409, "replayed-package"), "older than the extract"),
        (_problem(409, "reveal-key-mismatch"), "matcher keys reveal-public"),
        (_problem(413, "payload-too-large"), "larger than the matcher accepts"),
        (httpx.Response(418, text="teapot"), "HTTP 418"),
    ],
)
def test_each_refusal_becomes_one_clear_sentence_without_retrying(
    made_package: tuple[Path, Path], response: httpx.Response, sentence: str
) -> None:
    package, workspace = made_package
    seen: list[httpx.Request] = []
    with pytest.raises(UploadError) as error:
        upload_package(
            package,
            client=_client([response], seen),
            token="t",
            signing_key=workspace / "signing.key",
        )
    assert sentence in str(error.value)
    assert len(seen) == 1


def test_token_comes_from_the_environment_first_then_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("cc_from_file\n", encoding="utf-8")
    assert read_token(token_file, {"CROSSCHECK_TOKEN": "cc_env"}) == "cc_env"
    assert read_token(token_file, {}) == "cc_from_file"
    with pytest.raises(UploadError, match="CROSSCHECK_TOKEN"):
        read_token(None, {})
    with pytest.raises(UploadError, match="does not exist"):
        read_token(tmp_path / "missing", {})


def test_manifest_part_is_the_package_manifest(made_package: tuple[Path, Path]) -> None:
    package, _ = made_package
    seen: list[httpx.Request] = []
    upload_package(package, client=_client([_created()], seen), token="t")
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extract_id"].encode() in seen[0].content
