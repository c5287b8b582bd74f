"""RFC 9457 problem details: the one place where errors become HTTP responses.

Every error response of the API is ``application/problem+json`` with ``type``, ``title``,
``status`` and ``detail``; ``detail`` never contains personal data. Clients (the connector's
uploader) map the ``type`` URIs below to their own messages:

    <PROBLEM_BASE>unauthenticated        401  no, unknown or revoked token (WWW-Authenticate)
    <PROBLEM_BASE>forbidden              403  the role may not use this route
    <PROBLEM_BASE>not-found              404  no such object, or another company's
    <PROBLEM_BASE>conflict               409  exists already / concurrent change; retry
    <PROBLEM_BASE>invalid-input          422  a field is unusable (e.g. not an Ed25519 key)
    <PROBLEM_BASE>request-validation     422  request body/query does not match the schema
    <PROBLEM_BASE>payload-too-large      413  upload larger than the matcher's limit
    <PROBLEM_BASE>malformed-upload       400  multipart body without manifest/records part
    <PROBLEM_BASE>bad-manifest           422  manifest.json does not parse or is inconsistent
    <PROBLEM_BASE>foreign-company        403  manifest company is not the uploader's company
    <PROBLEM_BASE>unknown-company        422  company not registered at this matcher
    <PROBLEM_BASE>bad-signature          422  signature does not verify with the registered key
    <PROBLEM_BASE>reveal-key-mismatch    409  sealed to another reveal key: fetch the current one
                                              with `matcher keys reveal-public`
    <PROBLEM_BASE>unsupported-contract   422  contract version not supported
    <PROBLEM_BASE>incomparable-encoding  409  epoch or encoding differs from another company's
                                              (``company`` member names it)
    <PROBLEM_BASE>integrity-mismatch     422  records SHA-256 or row count differs from manifest
    <PROBLEM_BASE>bad-parquet            422  records.parquet unreadable
    <PROBLEM_BASE>schema-mismatch        422  columns or dtypes differ from the contract
    <PROBLEM_BASE>replayed-package       409  older than the company's active extract
    <PROBLEM_BASE>extract-id-reused      409  the extract id names different content
    <PROBLEM_BASE>data-key-reused        409  the wrapped data key is another extract's
    <PROBLEM_BASE>as-of-in-future        422  as-of date after today (1 day clock tolerance)
    <PROBLEM_BASE>extract-too-large      413  real rows or decoded bytes over the limit
    <PROBLEM_BASE>compression-bomb       422  decodes to far more than pseudonymised data can
    <PROBLEM_BASE>no-active-policy       409  a run needs an active policy
    <PROBLEM_BASE>run-failed             500  the matching run failed
    <PROBLEM_BASE>internal               500  anything else (details only in the server log)
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher.errors import AuthenticationError, IncomparableEncoding, MatcherError, TooManyAttempts

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "install_problem_handlers",
    "problem_response",
    "problem_type",
]

PROBLEM_BASE: Final = "https://crosscheck.invalid/problems/"
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

_log = logging.getLogger("matcher.api")

_HTTP_SLUGS = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method"}


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _matcher_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MatcherError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
    extra = {"company": exc.company} if isinstance(exc, IncomparableEncoding) else None
    if exc.status >= 500:
        # Messages are written without personal data, so the log may keep them.
        _log.error("request failed: %s", exc, exc_info=exc)
    return problem_response(exc.status, exc.slug, exc.title, str(exc), extra, headers)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem_response(
        exc.status_code, slug, str(exc.detail), str(exc.detail), headers=headers or None
    )


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only locations and messages, never the submitted input (it could be anything).
    errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(
        422, "request-validation", "Request invalid", detail, {"errors": errors}
    )


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("unexpected error", exc_info=exc)
    return problem_response(500, "internal", "Internal error", "the matcher failed; see its log")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MatcherError, _matcher_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
