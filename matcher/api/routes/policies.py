"""Policies API: the published rules (``GET /v1/policies``), activation and retirement (admin).

``POST /v1/policies`` takes the policy file's TOML text as the body (``application/toml`` or
``text/plain``) and activates it; a file with problems is refused with 422 and every problem
with its key path in ``problems``. Listing shows what a policy is for and its legal basis: these
are published rules, not secrets, so every role that works with hits or audits may read them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from matcher.actions import policies as policy_actions
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.api.problems import problem_response
from matcher.core import limits
from matcher.core.policy import PolicyError
from matcher.core.vocabulary import Role
from matcher.store.database import utcnow
from matcher.store.policies import StoredPolicy

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["policies"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.AUDITOR, Role.INVESTIGATOR, Role.APPROVER))
]


class PolicyOut(BaseModel):
    id: str
    version: str
    digest: str
    status: str
    activated_at: datetime
    activated_by: str
    retired_at: datetime | None
    retired_by: str | None
    valid_from: date
    valid_until: date
    purpose: str
    gdpr_article: str
    national_statute: str
    dpia_reference: str
    privacy_notice_reference: str

    @classmethod
    def of(cls, stored: StoredPolicy) -> PolicyOut:
        policy = stored.policy
        return cls(
            id=stored.id,
            version=stored.version,
            digest=stored.digest,
            status=stored.status,
            activated_at=stored.activated_at,
            activated_by=stored.activated_by,
            retired_at=stored.retired_at,
            retired_by=stored.retired_by,
            valid_from=policy.valid_from,
            valid_until=policy.valid_until,
            purpose=policy.purpose,
            gdpr_article=policy.legal_basis.gdpr_article,
            national_statute=policy.legal_basis.national_statute,
            dpia_reference=policy.dpia_reference,
            privacy_notice_reference=policy.privacy_notice_reference,
        )


@router.get("/policies")
def get_policies(principal: Reader, conn: Conn) -> list[PolicyOut]:
    """Every activated policy version, the active ones first."""
    return [PolicyOut.of(p) for p in policy_actions.listed(conn, principal)]


def _activate(state: AppState, raw: bytes, principal: Principal) -> tuple[PolicyOut, bool]:
    result = policy_actions.activate(state.engine, raw, principal)
    return PolicyOut.of(result.policy), result.changed


@router.post(
    "/policies",
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/toml": {"schema": {"type": "string"}}},
        }
    },
    responses={200: {"model": PolicyOut, "description": "this text is the active version"}},
)
async def post_policy(
    request: Request, principal: Admin, state: Annotated[AppState, Depends(app_state)]
) -> JSONResponse:
    """Check and activate a policy file; 201 when activated, 200 when already active."""
    raw = await request.body()
    if len(raw) > limits.POLICY_BYTES:
        return problem_response(
            413,
            "payload-too-large",
            "Policy too large",
            f"a policy file is at most {limits.POLICY_BYTES // 1024} KiB",
        )
    try:
        out, changed = await run_in_threadpool(_activate, state, raw, principal)
    except PolicyError as exc:
        await run_in_threadpool(policy_actions.record_refusal, state.engine, principal, exc)
        problems: list[dict[str, Any]] = [
            {"path": p.path, "message": p.message, "line": p.line, "column": p.column}
            for p in exc.problems
        ]
        return problem_response(
            exc.status, exc.slug, exc.title, str(exc), extra={"problems": problems}
        )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if changed else 200)


@router.post("/policies/{policy_id}/retire")
def post_retire(policy_id: str, principal: Admin, conn: Conn) -> PolicyOut:
    """Retire the active version of a policy: no run can use it from now on."""
    return PolicyOut.of(policy_actions.retire_in(conn, policy_id, principal, utcnow()))
