"""Admin pages: companies (list, add), users (list, create with the token shown once, revoke)
and matching runs (start one, list them with their counts per rule and band).

Form problems are shown next to the field as codes the template translates; the store's
checks stay the authority (a conflict found only on insert is shown the same way).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from matcher.actions import admin as actions
from matcher.actions import runs
from matcher.actions.principal import Principal
from matcher.api.deps import AppState, Conn, app_state
from matcher.core import limits
from matcher.core.vocabulary import COMPANY_ROLES, ROLES, Role
from matcher.errors import ConflictError, InvalidInput, NoActivePolicy, PermissionDenied
from matcher.store.companies import list_companies
from matcher.store.database import MAX_ROW_ID
from matcher.store.users import get_user
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["router"]

router = APIRouter(
    prefix="/web/admin", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Admin = Annotated[Principal, Depends(signed_in(Role.ADMIN))]
# The people pages: the operator's admins for everyone, a company administrator for their own
# company (the actions narrow what they see and may change).
PeopleAdmin = Annotated[Principal, Depends(signed_in(Role.ADMIN, Role.COMPANY_ADMIN))]
# Forms commit in their own transaction before redirecting (the request-scoped connection
# may commit only after the response has gone out, and the redirect would race it).
State = Annotated[AppState, Depends(app_state)]

_RUNS_SHOWN = 20


def _companies_page(
    request: Request,
    conn: Connection,
    admin: Principal,
    errors: dict[str, str],
    values: dict[str, str],
) -> Response:
    companies = actions.list_companies(conn, admin, datetime.now(UTC))
    return render(
        request,
        "admin_companies.html",
        {"companies": companies, "errors": errors, "values": values},
        status_code=422 if errors else 200,
    )


@router.get("/companies")
def companies_page(request: Request, admin: Admin, conn: Conn) -> Response:
    return _companies_page(request, conn, admin, {}, {})


@router.post("/companies")
def add_company_form(
    request: Request,
    admin: Admin,
    state: State,
    company_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    signing_key: Annotated[str, Form()] = "",
) -> Response:
    values = {"company_id": company_id, "name": name, "signing_key": signing_key}
    errors: dict[str, str] = {}
    if not (
        1 <= len(company_id) <= limits.COMPANY_ID_CHARS and limits.COMPANY_ID.match(company_id)
    ):
        errors["company_id"] = "company_id_form"
    if not name.strip() or len(name) > limits.COMPANY_NAME_CHARS:
        errors["name"] = "name_required"
    if not signing_key.strip():
        errors["signing_key"] = "key_required"
    with state.engine.begin() as conn:
        if not errors:
            try:
                actions.add_company(conn, admin, datetime.now(UTC), company_id, name, signing_key)
            except ConflictError:
                errors["company_id"] = "company_exists"
            except InvalidInput:
                errors["signing_key"] = "key_invalid"
        if errors:
            return _companies_page(request, conn, admin, errors, values)
    # Committed above, before the redirect: the next page must already see the change.
    return RedirectResponse("/web/admin/companies?added=" + company_id, status_code=303)


def _users_page(
    request: Request,
    conn: Connection,
    admin: Principal,
    errors: dict[str, str],
    values: dict[str, str],
) -> Response:
    now = datetime.now(UTC)
    if admin.role == Role.COMPANY_ADMIN and not values:
        values = {"company_id": admin.company_id or ""}  # their only choice, chosen already
    return render(
        request,
        "admin_users.html",
        {
            "users": actions.list_users(conn, admin, now),
            "companies": [
                c
                for c in list_companies(conn)
                if admin.role != Role.COMPANY_ADMIN or c.id == admin.company_id
            ],
            "roles": COMPANY_ROLES if admin.role == Role.COMPANY_ADMIN else ROLES,
            "errors": errors,
            "values": values,
        },
        status_code=422 if errors else 200,
    )


@router.get("/users")
def users_page(request: Request, admin: PeopleAdmin, conn: Conn) -> Response:
    return _users_page(request, conn, admin, {}, {})


@router.post("/users")
def add_user_form(
    request: Request,
    admin: PeopleAdmin,
    state: State,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    company_id: Annotated[str, Form()] = "",
) -> Response:
    values = {"name": name, "role": role, "company_id": company_id}
    errors: dict[str, str] = {}
    if not (1 <= len(name) <= limits.USER_NAME_CHARS) or not name.strip() or "/" in name:
        errors["name"] = "user_name_form"
    if role not in ROLES:
        errors["role"] = "role_required"
    elif role in COMPANY_ROLES and not company_id:
        errors["company_id"] = "company_needed"
    elif role not in COMPANY_ROLES and company_id:
        errors["company_id"] = "company_not_allowed"
    with state.engine.begin() as conn:
        if not errors:
            try:
                user, token = actions.add_user(
                    conn, admin, datetime.now(UTC), name, role, company_id or None
                )
            except ConflictError:
                errors["name"] = "user_exists"
            except InvalidInput:
                errors["company_id"] = "company_unknown"
            except PermissionDenied:
                errors["role"] = "role_not_yours"
        if errors:
            return _users_page(request, conn, admin, errors, values)
    # The one and only time the token is shown; it is stored nowhere, only its hash.
    return render(request, "user_created.html", {"user": user, "token": token})


@router.post("/users/{name}/revoke")
def revoke_user_form(
    request: Request,
    name: str,
    admin: PeopleAdmin,
    state: State,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Revoking asks once more (a page, no script): it ends the person's access at once."""
    if confirm != "yes":
        return render(request, "revoke_confirm.html", {"name": name})
    with state.engine.begin() as conn:
        actions.revoke_user(
            conn, admin, datetime.now(UTC), name
        )  # NotFound for an unknown name: the friendly 404 page
    return RedirectResponse("/web/admin/users?revoked=1", status_code=303)


@router.get("/users/{name}/sessions")
def sessions_page(request: Request, name: str, admin: PeopleAdmin, conn: Conn) -> Response:
    """A person's sessions: when each began, was last used and ended, and why."""
    user, found = actions.user_sessions(conn, admin, datetime.now(UTC), name)
    ended = request.query_params.get("ended") == "1"
    return render(request, "admin_sessions.html", {"user": user, "sessions": found, "ended": ended})


@router.post("/sessions/{session_id}/end")
def end_session_form(
    request: Request,
    session_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    admin: PeopleAdmin,
    state: State,
) -> Response:
    with state.engine.begin() as conn:
        row = actions.end_session(conn, admin, datetime.now(UTC), session_id)
        user = get_user(conn, row.user_id)
    assert user is not None
    return RedirectResponse(
        f"/web/admin/users/{quote(user.name, safe='')}/sessions?ended=1", status_code=303
    )


def _runs_page(
    request: Request, conn: Connection, admin: Principal, error: str | None, value: str
) -> Response:
    shown = runs.list_runs(conn, admin, datetime.now(UTC), _RUNS_SHOWN)
    notice = {"queued": "queued", "retried": "retried"}.get(request.query_params.get("done", ""))
    return render(
        request,
        "admin_runs.html",
        {
            "runs": shown,
            "error": error,
            "run_date": value,
            "notice": notice,
            # The page reloads itself (no script) while a run is waiting or working.
            "refresh": any(run.status in ("queued", "running") for run in shown),
        },
        status_code=_RUN_ERROR_STATUS.get(error or "", 200),
    )


_RUN_ERROR_STATUS = {"run_date_form": 422, "no_policy": 409, "not_retryable": 409}


@router.get("/runs")
def runs_page(request: Request, admin: Admin, conn: Conn) -> Response:
    return _runs_page(request, conn, admin, None, datetime.now(UTC).date().isoformat())


@router.post("/runs")
async def queue_run_form(
    request: Request,
    admin: Admin,
    state: State,
    run_date: Annotated[str, Form()] = "",
) -> Response:
    """Queue a run (like ``POST /v1/runs``); the page shows it waiting, working, then done."""
    error: str | None = None
    try:
        day = date.fromisoformat(run_date) if run_date else datetime.now(UTC).date()
    except ValueError:
        error = "run_date_form"
    if error is None:
        try:
            await run_in_threadpool(
                runs.queue_run,
                state.engine,
                state.settings,
                None,
                day,
                admin.name,
                actor=admin.actor,
            )
        except NoActivePolicy:
            error = "no_policy"
        else:
            state.nudge_worker()
            return RedirectResponse("/web/admin/runs?done=queued", status_code=303)
    with state.engine.begin() as conn:
        return _runs_page(request, conn, admin, error, run_date)


@router.post("/runs/{run_id}/retry")
async def retry_run_form(request: Request, run_id: str, admin: Admin, state: State) -> Response:
    """Queue a failed run again (like ``POST /v1/runs/{id}/retry``)."""
    try:
        await run_in_threadpool(
            runs.retry_run, state.engine, state.settings, run_id, admin.name, actor=admin.actor
        )
    except (ConflictError, NoActivePolicy) as exc:
        error = "no_policy" if isinstance(exc, NoActivePolicy) else "not_retryable"
        with state.engine.begin() as conn:
            return _runs_page(request, conn, admin, error, datetime.now(UTC).date().isoformat())
    state.nudge_worker()
    return RedirectResponse("/web/admin/runs?done=retried", status_code=303)
