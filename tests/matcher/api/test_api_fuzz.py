"""Property-based robustness of the /v1 API (schemathesis on the app's own OpenAPI schema).

Every /v1 operation gets generated requests, schema-valid and schema-violating (bodies, query
and path parameters), sent in-process to ``create_app`` over a real data directory that holds
a registered world, an active policy, two uploads and a run with one hit. Whoever asks (the
admin, or company a's investigator; the upload also as company a's data officer, the only role
that reaches its multipart parser) the answer is never a 5xx, every 4xx is RFC 9457
problem+json, and no body leaks a Python traceback or an exception's class path. Hand-made
malformed uploads and the inputs that once crashed the matcher follow as plain tests.

The operations are walked inside one test per role and mode rather than through
``schemathesis.pytest.from_fixture``: its runner reads ``Function._nodeid``, which pytest 9.2
no longer has, and the app (hence the schema) only exists inside the fixtures.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import Engine

from matcher.api.problems import PROBLEM_BASE
from tests.matcher.factories import World, auth
from tests.matcher.reveal_kit import RevealWorld, build_reveal_world

__all__: list[str] = []

# Derandomised (a fixed seed), no example database, no shrinking: the same requests on every
# run. 15 requests per operation and mode keep the file well under a minute on 2 cores.
FUZZ_SETTINGS = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

MODES = pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
UPLOAD = "POST /v1/extracts"
TRACEBACK = "Traceback (most recent call last)"
# A dotted path naming an exception class (``sqlalchemy.exc.IntegrityError``,
# ``builtins.OverflowError``): what a leaked ``repr(exc)`` or ``type(exc)`` looks like.
EXCEPTION_PATH = re.compile(r"\b[a-z_]\w*(?:\.[a-z_]\w*)*\.[A-Z]\w*(?:Error|Exception)\b")
PROBLEM_KEYS = {"type", "title", "status", "detail"}


@schemathesis.serializer("application/toml")
def _toml(_ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    # The policy upload takes TOML text; generated strings go as they are, anything else
    # (negative mode) as its JSON text, which is not a policy either.
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")


def robustness_problems(status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with one answer (empty when nothing), whatever was sent."""
    text = body.decode("utf-8", "replace")
    found = []
    if status >= 500:
        found.append(f"server error {status}: {text[:300]}")
    if TRACEBACK in text:
        found.append("traceback in the body")
    leaked = EXCEPTION_PATH.search(text)
    if leaked is not None:
        found.append(f"exception class path {leaked.group(0)!r} in the body")
    if 400 <= status < 500:
        if content_type.split(";")[0].strip() != "application/problem+json":
            found.append(f"{status} as {content_type!r}, not problem+json: {text[:300]}")
        else:
            problem = json.loads(text)
            missing = PROBLEM_KEYS - set(problem)
            if missing:
                found.append(f"{status} problem lacks {sorted(missing)}")
            elif problem["status"] != status or not all(
                isinstance(problem[k], str) and problem[k] for k in ("type", "title", "detail")
            ):
                found.append(f"{status} problem malformed: {text[:300]}")
    return found


@pytest.fixture
def seeded(client: TestClient, world: Callable[..., World], engine: Engine) -> RevealWorld:
    """Companies a, b, c with users, the shipped policy active, uploads of a and b, one run
    and its hit: generated ids and filters meet real rows, not only an empty database."""
    return build_reveal_world(client, world, engine)


@pytest.fixture
def app(seeded: RevealWorld) -> Iterator[FastAPI]:
    app = seeded.client.app
    assert isinstance(app, FastAPI)
    yield app
    # schemathesis keeps each app's lifespan (engine, purge loop) running until the process
    # ends; end this test's now.
    shutdown_lifespans()


@pytest.fixture
def raw_client(app: FastAPI) -> Iterator[TestClient]:
    """A client that answers a crash with the 500 a caller sees, instead of raising it."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def load_schema(app: FastAPI, token: str) -> schemathesis.BaseSchema:
    # The token is a configured header: it replaces any Authorization header generation
    # makes up, so every request reaches the route as this user.
    config = schemathesis.Config.from_dict({"seed": 20260301, "headers": auth(token)})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def fuzz_operation(schema: schemathesis.BaseSchema, label: str, mode: GenerationMode) -> list[str]:
    """Send one operation's generated requests; the distinct problems found, each with the
    first request that showed it."""
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    seen: dict[str, str] = {}

    def note(problem: str, case: Case[Any]) -> None:
        seen.setdefault(problem.split(":")[0], f"{label} [{mode.value}] {problem}\n  {case!r}")

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case[Any]) -> None:
        try:
            response = case.call()
        except Exception as exc:
            # The in-process transport re-raises what the app did not handle: a 500.
            note(f"unhandled {type(exc).__name__}: {exc}", case)
            return
        content_type = (response.headers.get("content-type") or [""])[0]
        for problem in robustness_problems(response.status_code, content_type, response.content):
            note(problem, case)

    try:
        send()
    except Unsatisfiable:
        # Nothing in this operation's schema can be violated (no body, no parameters):
        # negative mode has no request to make, which is not a finding.
        assert mode is GenerationMode.NEGATIVE, label
    return list(seen.values())


@MODES
@pytest.mark.parametrize("role", ["admin", "investigator-a"])
def test_generated_requests_never_fail_the_server_nor_leak_internals(
    app: FastAPI, seeded: RevealWorld, role: str, mode: GenerationMode
) -> None:
    schema = load_schema(app, seeded.token(role))
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    labels = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    ]
    assert len(labels) > 20 and UPLOAD in labels  # the whole /v1 surface
    problems = [found for label in labels for found in fuzz_operation(schema, label, mode)]
    assert not problems, "\n".join(problems)


@MODES
def test_generated_uploads_never_fail_the_server(
    app: FastAPI, seeded: RevealWorld, mode: GenerationMode
) -> None:
    # schemathesis builds real multipart bodies (random bytes in the parts; in negative mode
    # also bodies that are not multipart at all): the parser, not only the role check.
    problems = fuzz_operation(load_schema(app, seeded.token("data_officer-a")), UPLOAD, mode)
    assert not problems, "\n".join(problems)


def _part(name: str, content: bytes, boundary: bytes = b"xx") -> bytes:
    return (
        b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name.encode()
        + b"\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + content + b"\r\n"
    )  # fmt: skip


MALFORMED_UPLOADS: dict[str, tuple[str | None, bytes]] = {
    "no content type": (None, b"manifest=1&records=2"),
    "json, not multipart": ("application/json", b'{"manifest": {}, "records": ""}'),
    "multipart without boundary": ("multipart/form-data", _part("manifest", b"{}")),
    "empty body": ("multipart/form-data; boundary=xx", b""),
    "garbage": ("multipart/form-data; boundary=xx", b"\x00\xff" * 300),
    "bad part header": (
        "multipart/form-data; boundary=xx",
        b"--xx\r\nContent-Disposition[: x\r\n\r\nabc\r\n--xx--\r\n",
    ),
    "header line without colon": (
        "multipart/form-data; boundary=xx",
        b"--xx\r\nno colon here\r\n\r\nabc\r\n--xx--\r\n",
    ),
    "truncated records part": (
        "multipart/form-data; boundary=xx",
        _part("manifest", b"{}") + _part("records", b"PAR1")[:-10],
    ),
    "manifest not json": (
        "multipart/form-data; boundary=xx",
        _part("manifest", b"\xff\xfe not json") + _part("records", b"PAR1") + b"--xx--\r\n",
    ),
    "manifest json array": (
        "multipart/form-data; boundary=xx",
        _part("manifest", b"[1, 2]") + _part("records", b"PAR1") + b"--xx--\r\n",
    ),
    "unknown part": (
        "multipart/form-data; boundary=xx",
        _part("manifesto", b"{}") + _part("records", b"PAR1") + b"--xx--\r\n",
    ),
    "repeated records part": (
        "multipart/form-data; boundary=xx",
        _part("records", b"PAR1") + _part("records", b"PAR1") + b"--xx--\r\n",
    ),
    "boundary never closed": (
        "multipart/form-data; boundary=xx",
        _part("manifest", b"{}") + _part("records", b"PAR1"),
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED_UPLOADS))
def test_malformed_upload_is_a_client_problem(
    raw_client: TestClient, seeded: RevealWorld, name: str
) -> None:
    content_type, body = MALFORMED_UPLOADS[name]
    headers = auth(seeded.token("data_officer-a"))
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = raw_client.post("/v1/extracts", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    found = robustness_problems(
        response.status_code, response.headers.get("content-type", ""), response.content
    )
    assert found == []
    assert response.json()["type"].startswith(PROBLEM_BASE)


def _cursor(after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


# Found by the fuzzing above (and its PostgreSQL run): each was a 500 before it was fixed.
CRASHERS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    # ids beyond 64 bits: the SQLite driver raised OverflowError binding them
    "hit id beyond 64 bits": ("GET", "/v1/hits/9223372036854775808", "investigator-a", {}),
    "negative hit id beyond 64 bits": ("GET", f"/v1/hits/{-(2**70)}", "investigator-a", {}),
    "outcome of a hit id beyond 64 bits": (
        "POST",
        f"/v1/hits/{2**64}/outcome",
        "investigator-a",
        {"json": {"outcome": "data_error"}},
    ),
    "hits cursor beyond 64 bits": (
        "GET",
        f"/v1/hits?cursor={_cursor(2**64)}",
        "investigator-a",
        {},
    ),
    "audit cursor beyond 64 bits": (
        "GET",
        f"/v1/audit/entries?cursor={_cursor(2**64)}",
        "auditor",
        {},
    ),
    # U+0000: PostgreSQL text can not hold it (the driver raised DataError; SQLite stored it)
    "NUL in a path id": ("GET", "/v1/reveal-requests/a%00b", "investigator-a", {}),
    "NUL in a query filter": ("GET", "/v1/hits?status=open%00", "investigator-a", {}),
    "NUL in an audit filter": ("GET", "/v1/audit/entries?actor=x%00", "auditor", {}),
    "NUL in a user name": (
        "POST",
        "/v1/users",
        "admin",
        {"json": {"name": "x\u0000y", "role": "auditor"}},
    ),
    "NUL in a revoked name": ("POST", "/v1/users/x%00/revoke", "admin", {}),
    "NUL in an outcome note": (
        "POST",
        "/v1/hits/{hit}/outcome",
        "investigator-a",
        {"json": {"outcome": "data_error", "note": "n\u0000"}},
    ),
    # a body that is not multipart: python-multipart raised MultipartParseError
    "upload with a bad part header": (
        "POST",
        "/v1/extracts",
        "data_officer-a",
        {
            "content": b"--xx\r\nContent-Disposition[: x\r\n\r\nabc\r\n--xx--\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=xx"},
        },
    ),
}


@pytest.mark.parametrize("name", list(CRASHERS))
def test_inputs_that_crashed_the_matcher_are_refused_as_problems(
    raw_client: TestClient, seeded: RevealWorld, name: str
) -> None:
    method, path, who, kwargs = CRASHERS[name]
    headers = {**auth(seeded.token(who)), **kwargs.pop("headers", {})}
    response = raw_client.request(method, path.format(hit=seeded.hit_id), headers=headers, **kwargs)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (
        robustness_problems(response.status_code, "application/problem+json", response.content)
        == []
    )
