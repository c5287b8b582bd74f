"""Admin pages for legal-basis policies: view them, check a policy file, activate it, retire.

Activation is two steps on purpose: the admin pastes the file and first sees the check's
result (every problem with its key path, or what the policy says); only a file without
problems gets the "activate" button, which sends the very text that was checked. Activation and
retirement call the same functions as the API and leave the same audit entries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from matcher.actions import policies as policy_actions
from matcher.api.deps import AppState, Principal, app_state
from matcher.core import limits
from matcher.core.policy import Policy, PolicyError, Problem, load_policy
from matcher.core.vocabulary import Role
from matcher.errors import ConflictError
from matcher.store.policies import policy_problems
from matcher.web.csrf import verify_csrf
from matcher.web.render import render
from matcher.web.session import signed_in

__all__ = ["MAX_POLICY_CHARS", "router"]

router = APIRouter(
    prefix="/web/admin/policies", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Admin = Annotated[Principal, Depends(signed_in(Role.ADMIN))]
State = Annotated[AppState, Depends(app_state)]

MAX_POLICY_CHARS = limits.POLICY_BYTES  # as the API (a character is at least a byte)


def _file_text(pasted: str) -> str:
    """The policy text as the file has it: browsers send a textarea's (and a hidden field's)
    line breaks as CRLF, and the digest is over exact bytes, so the file's LF comes back."""
    return pasted.replace("\r\n", "\n")


def _page(
    request: Request,
    conn: Connection,
    who: Principal,
    *,
    text: str = "",
    problems: list[Problem] | None = None,
    checked: Policy | None = None,
    error: str | None = None,
    flash: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    policies = policy_actions.listed(conn, who)  # as GET /v1/policies
    return render(
        request,
        "admin_policies.html",
        {
            "policies": policies,
            "text": text,
            "problems": problems,
            "checked": checked,
            "error": error,
            "flash": flash,
        },
        status_code=status_code,
    )


@router.get("")
def policies_page(
    request: Request,
    who: Admin,
    state: State,
    activated: str = "",
    unchanged: str = "",
    retired: str = "",
) -> Response:
    flash = next(
        ((kind, value[:100]) for kind, value in
         (("activated", activated), ("unchanged", unchanged), ("retired", retired)) if value),
        None,
    )  # fmt: skip
    with state.engine.begin() as conn:
        return _page(request, conn, who, flash=flash)


@router.post("/check")
def check_policy_form(
    request: Request, who: Admin, state: State, policy: Annotated[str, Form()] = ""
) -> Response:
    """Check only: nothing is stored, so nothing but the page view is logged."""
    policy = _file_text(policy)
    if not policy.strip() or len(policy) > MAX_POLICY_CHARS:
        with state.engine.begin() as conn:
            return _page(request, conn, who, text=policy, error="policy_text", status_code=422)
    raw = policy.encode("utf-8")
    problems = policy_problems(raw)
    checked = None if problems else load_policy(raw)
    with state.engine.begin() as conn:
        return _page(
            request,
            conn,
            who,
            text=policy,
            problems=problems,
            checked=checked,
            status_code=422 if problems else 200,
        )


@router.post("/activate")
def activate_form(
    request: Request, who: Admin, state: State, policy: Annotated[str, Form()] = ""
) -> Response:
    policy = _file_text(policy)
    raw = policy.encode("utf-8")
    error: str | None = None
    problems: list[Problem] | None = None
    if not policy.strip() or len(policy) > MAX_POLICY_CHARS:
        error = "policy_text"
    else:
        try:
            result = policy_actions.activate(state.engine, raw, who)
        except PolicyError as exc:
            policy_actions.record_refusal(state.engine, who, exc)
            problems = list(exc.problems)
        except ConflictError:
            error = "policy_conflict"
    if error is not None or problems is not None:
        with state.engine.begin() as conn:
            return _page(
                request, conn, who, text=policy, problems=problems, error=error, status_code=422
            )
    done = "activated" if result.changed else "unchanged"
    return RedirectResponse(f"/web/admin/policies?{done}={result.policy.id}", status_code=303)


@router.post("/{policy_id}/retire")
def retire_form(policy_id: str, who: Admin, state: State) -> Response:
    # NotFound when no version is active: the friendly 404 page (and the attempt is logged).
    policy_actions.retire(state.engine, policy_id, who)
    return RedirectResponse(f"/web/admin/policies?retired={policy_id}", status_code=303)
