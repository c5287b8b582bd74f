"""Liveness and readiness probes; no token needed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from matcher.api.deps import AppState, app_state
from matcher.api.problems import problem_response
from matcher.store.database import database_ready

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    """The database answers and its schema is current."""
    if await run_in_threadpool(database_ready, state.engine):
        return JSONResponse({"status": "ready"})
    return problem_response(
        503,
        "not-ready",
        "Not ready",
        "the database does not answer or needs `matcher db upgrade`",
    )
