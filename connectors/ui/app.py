"""The pages of `connector ui`: one data officer's round, step by step, in the browser.

Every step calls the connector's library, the same functions the CLI commands call:
``suggest_from_export`` and ``save_mapping`` (`connector init`), ``check_and_report``
(`connector check`), ``pseudonymise_export`` (`connector pseudonymise`), ``describe_package``
(`connector inspect`) and ``upload_package`` (`connector upload`). The views only collect the
form, call, and show the result. State is one :class:`Journey` (one browser, one data
officer); configuration is read once, in :func:`create_app`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.column_profile import flag_like_columns
from connectors.errors import ConnectorError
from connectors.extract import SourceOptions
from connectors.package import PackageSummary, describe_package
from connectors.pipeline import (
    DEFAULT_MAX_ERROR_RATE,
    CheckResult,
    PackageResult,
    check_and_report,
    pseudonymise_export,
)
from connectors.profile import Profile, load_profile
from connectors.protection import looks_like_protection_flag
from connectors.record import CANONICAL_FIELDS
from connectors.ui.guard import Guard, GuardMiddleware
from connectors.ui.jobs import Job, start_job
from connectors.ui.texts import (
    DEFAULT_LANGUAGE,
    FIELD_LABELS,
    LANGUAGES,
    REASON_LABELS,
    translator,
)
from connectors.upload import UploadResult, read_token, upload_package
from connectors.workspace import (
    Suggested,
    Workspace,
    create_workspace,
    save_mapping,
    suggest_from_export,
)

__all__ = ["Journey", "UiSettings", "create_app"]

_HERE: Final = Path(__file__).parent
_LANG_COOKIE: Final = "crosscheck_ui_lang"
_NOT_FLAG: Final = "__not_flag__"
_SAMPLES_SHOWN: Final = 3
_NEW_WORKSPACE_FIELDS: Final = ("company", "matching_key", "matcher_url", "reveal_key")
_PROBLEMS_SHOWN: Final = 200
_PSEUDONYMISE_STEPS: Final = ("reading", "normalising", "pseudonymising", "writing package")
_STEPS: Final = (
    ("export", "/"),
    ("mapping", "/mapping"),
    ("check", "/check"),
    ("pseudonymise", "/pseudonymise"),
    ("package", "/package"),
    ("upload", "/upload"),
)


@dataclass(frozen=True)
class UiSettings:
    """What `connector ui` was started with."""

    profile: Path
    # The workspace does not exist yet: the first step also asks what `connector init` does,
    # and saving the mapping creates it (with create_workspace, as init).
    create: bool = False
    upload_retries: int = 5
    upload_backoff: float = 0.5
    upload_timeout: float = 300.0


@dataclass
class Journey:
    """Where the one data officer is in the round."""

    export: Path | None = None
    as_of: date = field(default_factory=date.today)
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    suggested: Suggested | None = None
    check: CheckResult | None = None
    check_error: str | None = None
    report_path: Path | None = None
    pseudonymise: Job | None = None
    package: Path | None = None
    upload: Job | None = None
    # For a workspace still to be created: what the first step was told (company, key files,
    # matcher URL); and, once made, what to read to the matcher's operator.
    creating: Mapping[str, str] | None = None
    created: Workspace | None = None


_TEMPLATES: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(_LANG_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT_LANGUAGE


def create_app(settings: UiSettings, guard: Guard) -> GuardMiddleware:
    """The ui's ASGI app behind its :class:`Guard` (token, cookie, Host, CSRF, headers)."""
    journey = Journey()
    profile_path = settings.profile

    def profile() -> Profile:
        return load_profile(profile_path)

    def creating() -> bool:
        return settings.create and not profile_path.exists()

    def page(request: Request, template: str, step: str, **context: Any) -> HTMLResponse:
        lang = _language(request)
        current: Profile | None = None
        profile_error = None
        if not creating():
            try:
                current = profile()
            except ConnectorError as error:
                profile_error = str(error)
        html = _TEMPLATES.get_template(template).render(
            lang=lang,
            t=translator(lang),
            steps=_STEPS,
            step=step,
            here=dict(_STEPS)[step],  # the language links go to the step's page (a GET)
            profile=current,
            profile_path=profile_path,
            profile_error=profile_error,
            form_token=guard.form_token,
            journey=journey,
            creating=creating(),
            **context,
        )
        response = HTMLResponse(html)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(_LANG_COOKIE, lang, httponly=True, samesite="strict")
        return response

    async def form(request: Request) -> FormData:
        data = await request.form()
        token = data.get("form_token")
        if not guard.form_ok(token if isinstance(token, str) else None):
            raise _Forbidden
        return data

    def see(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    # --- 1. the export ------------------------------------------------------------------

    async def export_page(request: Request) -> Response:
        return page(request, "export.html", "export", error=None, details=None)

    async def export_post(request: Request) -> Response:
        data = await form(request)
        lang = _language(request)
        t = translator(lang)
        path_text = str(data.get("export", "")).strip()
        sheet = str(data.get("sheet", "")).strip() or None
        try:
            as_of = date.fromisoformat(str(data.get("as_of", "")).strip())
        except ValueError:
            return page(request, "export.html", "export", error=t("export.bad_date"), details=None)
        try:
            rate = float(str(data.get("max_error_rate", "")).strip().rstrip("%") or "nan")
        except ValueError:
            rate = float("nan")
        if not 0 <= rate <= 1:
            return page(request, "export.html", "export", error=t("export.bad_rate"), details=None)
        export = Path(path_text).expanduser()
        new: dict[str, str] | None = None
        if creating():
            new = {k: str(data.get(k, "")).strip() for k in _NEW_WORKSPACE_FIELDS}
        try:
            if new is not None:
                if not Path(new["matching_key"]).is_file():
                    raise ConnectorError(f"no matching key at {new['matching_key']}")
                source = SourceOptions(sheet=sheet)
            else:
                base = profile().source
                source = SourceOptions(
                    format=base.format,
                    encoding=base.encoding,
                    delimiter=base.delimiter,
                    sheet=sheet,
                )
            suggested = suggest_from_export(export, source)
        except ConnectorError as error:
            return page(
                request,
                "export.html",
                "export",
                error=t("export.unreadable"),
                details=str(error),
            )
        journey.export, journey.as_of, journey.max_error_rate = export, as_of, rate
        journey.suggested, journey.check, journey.check_error = suggested, None, None
        journey.pseudonymise = journey.upload = None
        journey.package = None
        journey.creating = new
        return see("/mapping")

    # --- 2. the mapping -----------------------------------------------------------------

    def mapping_rows(lang: str, chosen: Mapping[str, str] | None) -> list[dict[str, Any]]:
        assert journey.suggested is not None
        suggestion = journey.suggested.suggestion
        current = None if creating() else profile()
        header = [c.column for c in suggestion.columns]
        from_profile = (
            current is not None
            and bool(current.mapping)
            and all(c in header for c in current.mapping.values())
        )
        by_column = {c: f for f, c in current.mapping.items()} if current and from_profile else {}
        not_flags = set(current.not_protection_flags) if current else set()
        rows = []
        frame = journey.suggested.sample.frame
        flag_valued = set(flag_like_columns(frame, header))
        for column in suggestion.columns:
            if chosen is not None:
                field_ = chosen.get(column.column, "")
            elif from_profile:
                field_ = by_column.get(column.column, "")
            else:
                field_ = column.field or ""
            if not field_ and column.column in not_flags:
                field_ = _NOT_FLAG
            values: list[str] = []
            for value in frame.get_column(column.column).to_list():
                if value and value.strip() and value.strip() not in values:
                    values.append(value.strip())
                if len(values) == _SAMPLES_SHOWN:
                    break
            rows.append(
                {
                    "column": column.column,
                    "field": field_,
                    "confidence": column.confidence if column.field else None,
                    "from_profile": from_profile and column.column in by_column,
                    "samples": values,
                    "flag_warning": field_ not in ("protected_identity", _NOT_FLAG)
                    and (
                        looks_like_protection_flag(column.column)
                        or column.field == "protected_identity"
                        or (not field_ and column.column in flag_valued)
                    ),
                }
            )
        return rows

    def mapping_page(
        request: Request, chosen: Mapping[str, str] | None, error: str | None, details: str | None
    ) -> Response:
        if journey.suggested is None:
            return see("/")
        lang = _language(request)
        options = [("", translator(lang)("mapping.stays_local"))]
        options += [(f, f"{FIELD_LABELS[f][lang]} ({f})") for f in CANONICAL_FIELDS]
        options.append((_NOT_FLAG, translator(lang)("mapping.not_flag")))
        return page(
            request,
            "mapping.html",
            "mapping",
            rows=mapping_rows(lang, chosen),
            options=options,
            checks=journey.suggested.suggestion.checks,
            source=journey.suggested.source,
            error=error,
            details=details,
        )

    async def mapping_get(request: Request) -> Response:
        return mapping_page(request, None, None, None)

    async def mapping_post(request: Request) -> Response:
        data = await form(request)
        if journey.suggested is None:
            return see("/")
        t = translator(_language(request))
        suggestion = journey.suggested.suggestion
        chosen = {c.column: str(data.get(f"field:{c.column}", "")) for c in suggestion.columns}
        mapping: dict[str, str] = {}
        twice: list[str] = []
        not_flags = [c for c, f in chosen.items() if f == _NOT_FLAG]
        for column, name in chosen.items():
            if name in ("", _NOT_FLAG):
                continue
            if name not in CANONICAL_FIELDS:
                raise _Forbidden
            if name in mapping:
                twice.append(name)
            mapping[name] = column
        if twice:
            return mapping_page(request, chosen, t("mapping.twice") + ": " + ", ".join(twice), None)
        try:
            if creating():
                new = journey.creating
                if new is None:  # the ui was started before the workspace went away
                    return see("/")
                reveal = new["reveal_key"]
                journey.created = create_workspace(
                    profile_path.parent,
                    company_id=new["company"],
                    matching_key=Path(new["matching_key"]).expanduser(),
                    matcher_url=new["matcher_url"],
                    suggested=journey.suggested,
                    reveal_key=Path(reveal).expanduser() if reveal else None,
                    mapping=mapping,
                    not_protection_flags=not_flags,
                    usable=True,
                )
            else:
                save_mapping(
                    profile(),
                    mapping,
                    source=journey.suggested.source,
                    date_formats=suggestion.date_formats,
                    national_id_scheme=suggestion.national_id_scheme,
                    not_protection_flags=not_flags,
                )
        except ConnectorError as error:
            return mapping_page(request, chosen, t("mapping.saved_refused"), str(error))
        run_check()
        return see("/check")

    # --- 3. the check -------------------------------------------------------------------

    def run_check() -> None:
        journey.check, journey.check_error, journey.report_path = None, None, None
        journey.pseudonymise = journey.upload = None
        try:
            current = profile()
            result, json_path, _ = check_and_report(
                journey.export,
                current,
                as_of=journey.as_of,
                max_error_rate=journey.max_error_rate,
            )
        except ConnectorError as error:
            journey.check_error = str(error)
            return
        journey.check, journey.report_path = result, json_path

    async def check_get(request: Request) -> Response:
        if journey.export is None:
            return see("/")
        if journey.check is None and journey.check_error is None:
            run_check()
        lang = _language(request)
        report = journey.check.report if journey.check else None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        default_out = (
            profile().workspace / "packages" / f"pkg-{journey.as_of.isoformat()}-{stamp}"
            if report
            else None
        )
        return page(
            request,
            "check.html",
            "check",
            report=report,
            problems=report.problems[:_PROBLEMS_SHOWN] if report else [],
            reasons={k: v[lang] for k, v in REASON_LABELS.items()},
            default_out=default_out,
        )

    async def check_post(request: Request) -> Response:
        await form(request)
        if journey.export is None:
            return see("/")
        run_check()
        return see("/check")

    # --- 4. pseudonymise ----------------------------------------------------------------

    async def pseudonymise_post(request: Request) -> Response:
        data = await form(request)
        check = journey.check
        if journey.export is None or check is None or check.report.status != "ok":
            return see("/check")
        if journey.pseudonymise is not None and journey.pseudonymise.running:
            return see("/pseudonymise")
        current = profile()
        out = Path(str(data.get("out", "")).strip()).expanduser()
        if not str(out).strip() or str(out) == ".":
            return see("/check")
        if not out.is_absolute():
            out = current.workspace / out
        export, as_of, rate = journey.export, journey.as_of, journey.max_error_rate

        def work(job: Job) -> PackageResult:
            def progress(step: str) -> None:
                job.advance(_PSEUDONYMISE_STEPS.index(step), step=step)

            return pseudonymise_export(
                export, current, out, as_of=as_of, max_error_rate=rate, progress=progress
            )

        journey.package, journey.upload = None, None
        journey.pseudonymise = start_job("pseudonymise", len(_PSEUDONYMISE_STEPS), work)
        return see("/pseudonymise")

    async def pseudonymise_get(request: Request) -> Response:
        job = journey.pseudonymise
        if job is None:
            return see("/check")
        if job.state == "done":
            result: PackageResult = job.result
            journey.package = result.package
            return see("/package")
        return page(request, "pseudonymise.html", "pseudonymise", job=job)

    # --- 5. what leaves the company (inspect) -------------------------------------------

    async def package_get(request: Request) -> Response:
        summary: PackageSummary | None = None
        error = None
        job = journey.pseudonymise
        if journey.package is None and job is not None and job.state == "done":
            journey.package = job.result.package
        if journey.package is not None:
            try:
                summary = describe_package(journey.package)
            except ConnectorError as exc:
                error = str(exc)
        manifest = (
            [
                (k, getattr(summary.manifest, k))
                for k in (
                    "contract_version",
                    "company_id",
                    "extract_id",
                    "as_of",
                    "created_at",
                    "matching_key_epoch",
                    "reveal_key_fingerprint",
                    "reveal_kem",
                    "encoding_digest",
                    "records_sha256",
                )
            ]
            if summary
            else []
        )
        return page(
            request, "package.html", "package", summary=summary, manifest=manifest, error=error
        )

    # --- 6. upload ----------------------------------------------------------------------

    async def upload_post(request: Request) -> Response:
        data = await form(request)
        package = journey.package
        if package is None:
            return see("/package")
        if journey.upload is not None and journey.upload.running:
            return see("/upload")
        current = profile()
        typed = str(data.get("token", "")).strip()

        def work(job: Job) -> UploadResult:
            token = typed or read_token(current.token_file)
            timeout = httpx.Timeout(settings.upload_timeout, connect=10.0)
            with httpx.Client(base_url=current.matcher_url, timeout=timeout) as client:
                return upload_package(
                    package,
                    client=client,
                    token=token,
                    signing_key=current.signing_key_path,
                    progress=lambda sent, total: job.advance(sent, total, "uploading"),
                    retries=settings.upload_retries,
                    backoff=settings.upload_backoff,
                )

        size = (package / "records.parquet").stat().st_size if package.exists() else 1
        journey.upload = start_job("upload", max(size, 1), work)
        return see("/upload")

    async def upload_get(request: Request) -> Response:
        return page(request, "upload.html", "upload", job=journey.upload)

    async def status(request: Request) -> Response:
        jobs = {"pseudonymise": journey.pseudonymise, "upload": journey.upload}
        job = jobs.get(request.path_params["name"])
        if job is None:
            return JSONResponse({"state": "none"}, status_code=404)
        return JSONResponse(job.status())

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except _Forbidden:
                return Response("form token missing or wrong", status_code=403)
            except ConnectorError as error:
                # The profile was edited into something the connector refuses while the ui
                # ran, say: the page says so (the header shows the profile's problems).
                step = next((k for k, p in _STEPS if p == request.url.path), "export")
                return page(request, "failed.html", step, error=str(error))
            return response

        return run

    routes = [
        Route("/", guarded(export_page), methods=["GET"]),
        Route("/export", guarded(export_post), methods=["POST"]),
        Route("/mapping", guarded(mapping_get), methods=["GET"]),
        Route("/mapping", guarded(mapping_post), methods=["POST"]),
        Route("/check", guarded(check_get), methods=["GET"]),
        Route("/check", guarded(check_post), methods=["POST"]),
        Route("/pseudonymise", guarded(pseudonymise_get), methods=["GET"]),
        Route("/pseudonymise", guarded(pseudonymise_post), methods=["POST"]),
        Route("/package", guarded(package_get), methods=["GET"]),
        Route("/upload", guarded(upload_get), methods=["GET"]),
        Route("/upload", guarded(upload_post), methods=["POST"]),
        Route("/status/{name}", status, methods=["GET"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return GuardMiddleware(Starlette(routes=routes), guard)


class _Forbidden(Exception):
    """A POST without the session's form token (CSRF)."""
