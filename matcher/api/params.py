"""Path and query parameters shared by the API routes and the pages.

A row id or a log sequence number is a 64-bit signed integer in the database: a larger number
names no row and the drivers refuse to bind it (OverflowError, a 500). Declaring the bounds here
makes FastAPI refuse it as input, before any query: 422 problem+json on the API, the "not found"
page on the web.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from matcher.store.database import MAX_ROW_ID

__all__ = ["HitId", "LogSeq", "LogSeqQuery", "LogSizeQuery"]

HitId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
LogSeq = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
LogSeqQuery = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
LogSizeQuery = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]
