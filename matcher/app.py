"""The composition root: ``create_app(settings)`` builds the API and the pages once.

Configuration is read by the caller (CLI or tests) and passed in; the engine, blob store and
the reveal key fingerprint live on ``app.state.matcher`` for the dependencies in ``deps``.
Every refused request (401, 403, 404 on an object) is written to the audit log on its way to
the problem+json handler (:func:`matcher.api.deps.record_denied`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp

from matcher.actions.openid import Providers
from matcher.actions.worker import Worker
from matcher.api.background import Background
from matcher.api.deps import AppState, record_denied
from matcher.api.docs import install_docs
from matcher.api.headers import SecurityHeaders
from matcher.api.metrics import Metrics
from matcher.api.metrics import router as metrics_router
from matcher.api.problems import install_problem_handlers
from matcher.api.requestlog import RequestLog
from matcher.api.routes.admin import router as admin_router
from matcher.api.routes.audit import router as audit_router
from matcher.api.routes.extracts import router as extracts_router
from matcher.api.routes.health import router as health_router
from matcher.api.routes.hits import router as hits_router
from matcher.api.routes.policies import router as policies_router
from matcher.api.routes.reveal import router as reveal_router
from matcher.api.routes.runs import router as runs_router
from matcher.api.routes.witness import router as witness_router
from matcher.crypto import reveal_key_fingerprint
from matcher.errors import ConfigError, MatcherError
from matcher.settings import Settings, ensure_session_secret
from matcher.store.blobs import BlobStore
from matcher.store.database import create_database_engine
from matcher.web import install_web

__all__ = ["SERVE_SETTINGS_ENV", "app_from_environment", "create_app"]

# `matcher serve --workers N` hands each spawned process the resolved settings in this variable.
SERVE_SETTINGS_ENV = "_CROSSCHECK_SERVE_SETTINGS"

_DENIED_STATUSES = (401, 403, 404, 429)
_log = logging.getLogger("matcher.api")


def _log_denied_attempts(app: FastAPI, state: AppState) -> None:
    """Wrap the problem handler of :class:`MatcherError` so each refusal is logged first."""
    problem = app.exception_handlers[MatcherError]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MatcherError)
        if exc.status in _DENIED_STATUSES:
            try:
                await run_in_threadpool(record_denied, state, request, exc)
            except Exception:
                # The refusal stands either way; a log that can not be written is for the
                # operator (server log), not a reason to answer 500 instead of 401/403/404.
                _log.exception("could not write the audit entry of a denied request")
        response = problem(request, exc)
        assert isinstance(response, Response)
        return response

    app.add_exception_handler(MatcherError, handler)


class _App(FastAPI):
    """FastAPI with the security headers outside everything, error handling included, and the
    request log (request id, one event per request) just inside them."""

    trusted_proxies: tuple[str, ...] = ()
    metrics: Metrics | None = None

    def build_middleware_stack(self) -> ASGIApp:
        observe = None if self.metrics is None else self.metrics.observe
        return SecurityHeaders(
            RequestLog(super().build_middleware_stack(), observe), self.trusted_proxies
        )


def create_app(settings: Settings) -> FastAPI:
    try:
        public_pem = settings.reveal_public_key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the reveal public key {settings.reveal_public_key_path} is missing; "
            "was the data directory made with `matcher init`?"
        ) from exc
    blobs = BlobStore(settings.blob_dir)
    blobs.ensure()
    engine = create_database_engine(settings.database_url)
    background = Background(Worker(engine, settings), settings) if settings.run_worker else None
    state = AppState(
        settings,
        engine,
        blobs,
        reveal_key_fingerprint(public_pem),
        source_secret=ensure_session_secret(settings.session_secret_path),
        nudge_worker=(lambda: None) if background is None else background.nudge,
        openid=Providers(settings.openid_issuers),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background is not None:
            await background.start()
        try:
            yield
        finally:
            if background is not None:
                await background.stop()
            engine.dispose()

    app = _App(
        title="Crosscheck matcher",
        summary="Signed pseudonymised uploads in, hits out, each hit only to whom it concerns.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN; install_docs serves our own.
        docs_url=None,
        redoc_url=None,
    )
    app.state.matcher = state
    app.trusted_proxies = settings.trusted_proxies
    app.metrics = Metrics(engine)
    app.state.metrics = app.metrics

    @app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Every API answer is one person's view (hits, disclosures, the log): no shared or
        # browser cache may keep a copy.
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    install_problem_handlers(app)

    async def hung_up(request: Request, _exc: Exception) -> Response:
        # The client went away mid-request (an upload cut off): one line, not a traceback.
        _log.warning("client hung up during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    app.add_exception_handler(ClientDisconnect, hung_up)
    _log_denied_attempts(app, state)
    for router in (
        health_router,
        metrics_router,
        admin_router,
        extracts_router,
        runs_router,
        hits_router,
        policies_router,
        audit_router,
        reveal_router,
        witness_router,
    ):
        app.include_router(router)
    install_docs(app)
    install_web(app, settings)  # after the API's routers and error handlers: it wraps them
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``matcher serve --workers N`` process (uvicorn's factory): the settings
    and log format the command resolved, from :data:`SERVE_SETTINGS_ENV`."""
    import json
    import logging.config
    import os

    from matcher.api.accesslog import log_config

    raw = os.environ.get(SERVE_SETTINGS_ENV)
    if raw is None:
        raise ConfigError(f"{SERVE_SETTINGS_ENV} is not set; start the service with matcher serve")
    passed = json.loads(raw)
    logging.config.dictConfig(log_config(passed["log_format"], passed["log_level"]))
    return create_app(Settings.model_validate(passed["settings"]))
