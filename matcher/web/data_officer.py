"""Data officer pages: the own company's extracts, newest first, with who uploaded them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from matcher.actions.extracts import list_extracts
from matcher.actions.principal import Principal
from matcher.api.deps import Conn
from matcher.core.vocabulary import Role
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["router"]

router = APIRouter(prefix="/web", include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/extracts")
def extracts_page(
    request: Request,
    principal: Annotated[Principal, Depends(signed_in(Role.DATA_OFFICER))],
    conn: Conn,
) -> Response:
    # The store filters by company: this page can not list another company's extracts.
    items = list(reversed(list_extracts(conn, principal, datetime.now(UTC))))
    return render(request, "extracts.html", {"extracts": items})
