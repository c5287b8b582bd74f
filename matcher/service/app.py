"""The FastAPI application factory: ``create_app(settings)`` builds everything once.

Configuration is read by the caller (CLI or tests) and passed in; the engine, blob store and
the reveal key fingerprint live on ``app.state.matcher`` for the dependencies in ``deps``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from matcher.crypto import reveal_key_fingerprint
from matcher.errors import ConfigError
from matcher.service.deps import AppState
from matcher.service.problems import install_problem_handlers
from matcher.service.routes.admin import router as admin_router
from matcher.service.routes.extracts import router as extracts_router
from matcher.service.routes.health import router as health_router
from matcher.service.routes.hits import router as hits_router
from matcher.service.routes.runs import router as runs_router
from matcher.settings import Settings
from matcher.store.blobs import BlobStore
from matcher.store.database import create_database_engine

__all__ = ["create_app"]


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
    state = AppState(settings, engine, blobs, reveal_key_fingerprint(public_pem))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Crosscheck matcher",
        summary="Signed pseudonymised uploads in, hits out, each hit only to whom it concerns.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.matcher = state
    install_problem_handlers(app)
    for router in (health_router, admin_router, extracts_router, runs_router, hits_router):
        app.include_router(router)
    return app
