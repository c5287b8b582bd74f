"""Which audit actions each route of the app leaves: one table for the API and the pages.

Every route that reads or changes a hit, a reveal request, an extract, a user, a company, a
policy or the log is in :data:`AUDITED`, with the actions an allowed call writes (through
:mod:`matcher.actions`). Every other route is in :data:`EXEMPT` with the reason it needs no
entry. ``tests/matcher/api/test_route_audit.py`` fails for a route in neither table, so a new
route can not be added without saying what it logs. Refusals (401/403/404) are logged for
every route alike as ``access.denied`` by the app's error handler and are not listed here.
"""

from __future__ import annotations

from matcher.core.vocabulary import AuditAction as A

__all__ = ["AUDITED", "EXEMPT"]

AUDITED: dict[str, tuple[A, ...]] = {
    # --- API
    "POST /v1/companies": (A.COMPANY_CREATE,),
    "GET /v1/companies": (A.COMPANY_LIST,),
    "POST /v1/companies/{company_id}/signing-key": (A.COMPANY_KEY_ROTATE, A.COMPANY_KEY_REVOKE),
    "POST /v1/companies/{company_id}/witnesses": (A.WITNESS_ADD,),
    "GET /v1/witness/checkpoint": (A.WITNESS_CHECKPOINT,),
    "POST /v1/witness/cosignatures": (A.WITNESS_COSIGN,),
    "GET /v1/witness/cosigned": (A.WITNESS_COSIGNED,),
    "POST /v1/users": (A.USER_CREATE,),
    "GET /v1/users": (A.USER_LIST,),
    "POST /v1/users/{name}/revoke": (A.USER_REVOKE,),
    "GET /v1/users/{name}/sessions": (A.SESSION_LIST,),
    "POST /v1/sessions/{session_id}/end": (A.SESSION_END,),
    "POST /v1/users/{name}/tokens": (A.TOKEN_CREATE,),
    "GET /v1/users/{name}/tokens": (A.TOKEN_LIST,),
    "POST /v1/tokens/{token_id}/rotate": (A.TOKEN_ROTATE,),
    "POST /v1/tokens/{token_id}/revoke": (A.TOKEN_REVOKE,),
    "POST /v1/extracts": (A.UPLOAD_ACCEPT, A.UPLOAD_REJECT),
    "GET /v1/extracts": (A.EXTRACT_LIST,),
    "GET /v1/extracts/{extract_id}": (A.EXTRACT_READ,),
    "POST /v1/runs": (A.RUN_QUEUE,),
    "POST /v1/runs/{run_id}/retry": (A.RUN_QUEUE,),
    "GET /v1/runs": (A.RUN_LIST,),
    "GET /v1/runs/{run_id}": (A.RUN_READ,),
    "GET /v1/hits": (A.HIT_LIST,),
    "GET /v1/hits/{hit_id}": (A.HIT_READ,),
    "GET /v1/policies": (A.POLICY_LIST,),
    "POST /v1/policies": (A.POLICY_ACTIVATE,),
    "POST /v1/policies/{policy_id}/retire": (A.POLICY_RETIRE,),
    "GET /v1/audit/checkpoint": (A.AUDIT_CHECKPOINT,),
    "GET /v1/audit/entries": (A.AUDIT_ENTRIES,),
    "GET /v1/audit/proofs/inclusion": (A.AUDIT_PROOF,),
    "GET /v1/audit/proofs/consistency": (A.AUDIT_PROOF,),
    "GET /v1/audit/stats": (A.AUDIT_STATS,),
    "POST /v1/hits/{hit_id}/reveal-requests": (A.REVEAL_REQUEST,),
    "GET /v1/reveal-requests": (A.REVEAL_LIST,),
    "GET /v1/reveal-requests/{request_id}": (A.REVEAL_READ,),
    "POST /v1/reveal-requests/{request_id}/approve": (A.REVEAL_APPROVE,),
    "POST /v1/reveal-requests/{request_id}/deny": (A.REVEAL_DENY,),
    "GET /v1/reveal-requests/{request_id}/disclosure": (A.DISCLOSURE_READ,),
    "POST /v1/hits/{hit_id}/outcome": (A.HIT_OUTCOME,),
    "GET /v1/subject-report": (A.SUBJECT_REPORT,),
    # --- pages: the same actions as the API routes they stand beside
    "POST /web/sign-in": (A.ACCESS_DENIED,),  # only a refused sign-in; see EXEMPT's sign-in page
    "GET /web/queue": (A.HIT_LIST,),
    "GET /web/hits/{hit_id}": (A.HIT_READ,),
    "POST /web/hits/{hit_id}/reveal-requests": (A.REVEAL_REQUEST,),
    "GET /web/requests": (A.REVEAL_LIST,),
    "GET /web/approvals": (A.REVEAL_LIST,),
    "POST /web/requests/{request_id}/decision": (A.REVEAL_APPROVE, A.REVEAL_DENY),
    "GET /web/requests/{request_id}/disclosure": (A.DISCLOSURE_READ,),
    "POST /web/hits/{hit_id}/outcome": (A.HIT_OUTCOME,),
    "GET /web/extracts": (A.EXTRACT_LIST,),
    "GET /web/admin/companies": (A.COMPANY_LIST,),
    "POST /web/admin/companies": (A.COMPANY_CREATE,),
    "GET /web/admin/users": (A.USER_LIST,),
    "POST /web/admin/users": (A.USER_CREATE,),
    "POST /web/admin/users/{name}/revoke": (A.USER_REVOKE,),
    "GET /web/admin/users/{name}/sessions": (A.SESSION_LIST,),
    "POST /web/admin/sessions/{session_id}/end": (A.SESSION_END,),
    # a sign-in at an identity provider: the session, the user made or changed, or the refusal
    "GET /web/sign-in/{issuer}/callback": (
        A.SESSION_START,
        A.USER_CREATE,
        A.USER_UPDATE,
        A.ACCESS_DENIED,
    ),
    "GET /web/sign-in/{issuer}": (A.ACCESS_DENIED,),  # only when the provider can not be reached
    "GET /web/admin/runs": (A.RUN_LIST,),
    "POST /web/admin/runs": (A.RUN_QUEUE,),
    "POST /web/admin/runs/{run_id}/retry": (A.RUN_QUEUE,),
    "GET /web/admin/policies": (A.POLICY_LIST,),
    "POST /web/admin/policies/check": (A.POLICY_LIST,),  # the page around the check result
    "POST /web/admin/policies/activate": (A.POLICY_ACTIVATE,),
    "POST /web/admin/policies/{policy_id}/retire": (A.POLICY_RETIRE,),
    "GET /web/audit": (A.AUDIT_ENTRIES,),
    "GET /web/audit/entries/{seq}": (A.AUDIT_PROOF,),
    "GET /web/audit/checkpoint": (A.AUDIT_CHECKPOINT,),
    "POST /web/audit/verify": (A.AUDIT_VERIFY,),
    "GET /web/audit/stats": (A.AUDIT_STATS,),
}

EXEMPT: dict[str, str] = {
    "GET /openapi.json": "the API's schema: no data",
    "GET /docs": "the schema's viewer: no data",
    "GET /docs/init.js": "the schema viewer's bootstrap script: no data",
    "GET /docs/assets": "the schema viewer's files (Swagger UI): no data",
    "GET /healthz": "liveness probe: no data, no caller",
    "GET /metrics": "aggregate counts for Prometheus, scraped every few seconds: no object",
    "GET /readyz": "readiness probe: no data, no caller",
    "GET /": "a redirect to the pages",
    "GET /web": "a redirect to the sign-in page or the role's start page",
    "GET /web/": "a redirect to the sign-in page or the role's start page",
    "GET /web/home": "the start page: links only, no object",
    "GET /web/sign-in": "the sign-in form: no object",
    "POST /web/sign-out": "ends the own session (session.end, written by the action)",
    "POST /web/language": "the own language choice, kept in the session cookie",
    "GET /web/static": "stylesheets and scripts",
}
