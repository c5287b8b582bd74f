"""Extracts API: ``POST /v1/extracts`` (upload a package), list and show extracts.

The upload body is ``multipart/form-data`` with parts ``manifest`` (manifest.json) and
``records`` (records.parquet). It is parsed as it streams: the records part goes straight to a
temporary file in the blob folder while it is hashed and counted, never into memory, and the
manifest is verified as soon as it has arrived (the connector sends it first), so a package
that will be refused is refused before gigabytes are read. The route only parses and answers:
the checks are :mod:`matcher.actions.intake`'s, the storing and the entries are the actions in
:mod:`matcher.actions.uploads`. Nothing is stored on a rejection except its audit entry
(``upload.reject`` with the problem slug, in its own transaction); an accepted upload's entry
(``upload.accept``) commits with the extract, before the 201 is sent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from matcher.actions import extracts as extract_actions
from matcher.actions.uploads import (
    Intake,
    note_duplicate,
    note_rejection,
    store_package,
    verify_manifest,
)
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.core.vocabulary import Role
from matcher.errors import (
    MalformedUpload,
    MatcherError,
    PayloadTooLarge,
)
from matcher.store.blobs import PendingBlob
from matcher.store.database import utcnow
from matcher.store.extracts import Extract

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["extracts"])

_MANIFEST_LIMIT = 1024 * 1024  # a manifest is a few kB; anything bigger is not one
_CHUNK_SLACK = 64 * 1024  # multipart headers and boundaries around the records part


class ExtractOut(BaseModel):
    id: str
    company_id: str
    status: str
    as_of: date
    rows: int
    size_bytes: int
    records_sha256: str
    uploaded_by: str
    created_at: datetime
    superseded_at: datetime | None

    @classmethod
    def of(cls, extract: Extract) -> ExtractOut:
        return cls(
            id=extract.id,
            company_id=extract.company_id,
            status=extract.status,
            as_of=extract.as_of,
            rows=extract.row_count,
            size_bytes=extract.size_bytes,
            records_sha256=extract.records_sha256,
            uploaded_by=extract.uploaded_by_name,
            created_at=extract.created_at,
            superseded_at=extract.superseded_at,
        )


class _PackageStream:
    """Feeds a multipart body through python-multipart and routes the two parts."""

    def __init__(self, boundary: bytes, state: AppState) -> None:
        self._state = state
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._part: str | None = None
        self.manifest = bytearray()
        self.manifest_done = False
        self.records: PendingBlob | None = None
        self.records_done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except ParseError:
            # A body that is not multipart (bad part headers, boundaries) is the client's
            # error: 400 malformed-upload, not an unhandled exception (500). The parser's
            # message quotes bytes of the body, so it is not passed on.
            raise MalformedUpload(
                "the body is not valid multipart/form-data; send the parts 'manifest' "
                "(manifest.json) and 'records' (records.parquet)"
            ) from None

    def close(self) -> None:
        try:
            self._parser.finalize()
        except ParseError:  # python-multipart announces that finalize will check the end
            raise MalformedUpload("the multipart body ends in the middle of a part") from None

    def discard(self) -> None:
        if self.records is not None:
            self.records.discard()

    def _part_begin(self) -> None:
        self._headers, self._part = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if name == "manifest" and not self.manifest_done and not self.manifest:
            self._part = name
        elif name == "records" and self.records is None:
            self._part = name
            self.records = self._state.blobs.receive(self._state.settings.max_upload_bytes)
        else:
            raise MalformedUpload(
                f"unexpected or repeated multipart part {name!r}; send exactly the parts "
                "'manifest' (manifest.json) and 'records' (records.parquet)"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "manifest":
            self.manifest += data[start:end]
            if len(self.manifest) > _MANIFEST_LIMIT:
                raise MalformedUpload("the manifest part is larger than 1 MiB; it is not one")
        elif self._part == "records" and self.records is not None:
            self.records.write(data[start:end])

    def _part_end(self) -> None:
        if self._part == "manifest":
            self.manifest_done = True
        elif self._part == "records":
            self.records_done = True
        self._part = None


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise MalformedUpload(
            "send the package as multipart/form-data with parts 'manifest' and 'records'"
        )
    return boundary


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _CHUNK_SLACK:
        raise PayloadTooLarge(
            f"the upload is {declared} bytes; this matcher accepts at most {limit} bytes "
            "of records (max_upload_bytes)"
        )


def _intake(state: AppState) -> Intake:
    return Intake(state.engine, state.blobs, state.settings, state.reveal_key_fingerprint)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["manifest", "records"],
                    "properties": {
                        "manifest": {"type": "string", "format": "binary"},
                        "records": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/extracts",
    status_code=status.HTTP_201_CREATED,
    response_model=ExtractOut,
    openapi_extra=_UPLOAD_BODY,
    responses={200: {"model": ExtractOut, "description": "identical package: nothing changed"}},
)
async def post_extract(
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.DATA_OFFICER))],
    state: Annotated[AppState, Depends(app_state)],
) -> JSONResponse:
    """Upload a signed package; 201 when stored, 200 with the same id when already stored."""
    company = principal.own_company()
    limit = state.settings.max_upload_bytes
    intake = _intake(state)
    try:
        _check_length(request, limit)
        stream = _PackageStream(_boundary(request), state)
    except MatcherError as exc:
        await run_in_threadpool(note_rejection, intake, principal, exc, utcnow())
        raise
    received = 0
    checked = False
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + _CHUNK_SLACK:
                raise PayloadTooLarge(
                    f"the upload exceeds this matcher's limit of {limit} bytes (max_upload_bytes)"
                )
            stream.feed(chunk)
            if stream.manifest_done and not checked:
                checked = True
                verdict = await run_in_threadpool(
                    verify_manifest, intake, bytes(stream.manifest), company, utcnow()
                )
                if verdict.duplicate is not None:
                    # Same signed manifest, same records hash: a retry. Stop reading.
                    stream.discard()
                    await run_in_threadpool(
                        note_duplicate, intake, principal, verdict.duplicate, utcnow()
                    )
                    body = ExtractOut.of(verdict.duplicate).model_dump(mode="json")
                    return JSONResponse(body, status_code=200)
        stream.close()
        if not stream.manifest_done or stream.records is None or not stream.records_done:
            raise MalformedUpload(
                "the upload needs both parts, 'manifest' (manifest.json) and 'records' "
                "(records.parquet), and must be complete"
            )
        stored, created = await run_in_threadpool(
            store_package, intake, principal, bytes(stream.manifest), stream.records, utcnow()
        )
    except BaseException as exc:
        stream.discard()
        if isinstance(exc, MatcherError):
            await run_in_threadpool(note_rejection, intake, principal, exc, utcnow())
        raise
    if not created:
        await run_in_threadpool(note_duplicate, intake, principal, stored, utcnow())
    body = ExtractOut.of(stored).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("/extracts")
def get_extracts(
    principal: Annotated[Principal, Depends(require(Role.DATA_OFFICER, Role.ADMIN))],
    conn: Conn,
) -> list[ExtractOut]:
    """Data officers see their own company's extracts; admins see all."""
    return [ExtractOut.of(e) for e in extract_actions.list_extracts(conn, principal, utcnow())]


@router.get("/extracts/{extract_id}")
def get_one_extract(
    extract_id: str,
    principal: Annotated[Principal, Depends(require(Role.DATA_OFFICER, Role.ADMIN))],
    conn: Conn,
) -> ExtractOut:
    return ExtractOut.of(extract_actions.read_extract(conn, principal, extract_id, utcnow()))
