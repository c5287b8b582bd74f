"""The matcher's words, once: roles, statuses, outcomes, bands and audit actions.

Tables (CHECK constraints), routes (validation), pages (choices) and actions (audit entries)
import these instead of spelling the strings again. :class:`AuditAction` values are ``str``
(``StrEnum``), so an entry's JSON and every stored row are unchanged.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACCESS_DENIED",
    "BANDS",
    "COMPANY_ROLES",
    "DECISIONS",
    "EXTRACT_STATUSES",
    "HIT_STATUSES",
    "OUTCOMES",
    "OUTCOME_REASONS",
    "POLICY_STATUSES",
    "RESULTS",
    "REVEAL_REQUEST_STATUSES",
    "ROLES",
    "RUN_STATUSES",
    "AuditAction",
    "Role",
]


class Role(StrEnum):
    ADMIN = "admin"
    DATA_OFFICER = "data_officer"
    INVESTIGATOR = "investigator"
    APPROVER = "approver"
    AUDITOR = "auditor"
    # Manages the own company's people and their roles; nothing of other companies.
    COMPANY_ADMIN = "company_admin"


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# Roles bound to one company; the others (admin, auditor) belong to the matcher's operator.
COMPANY_ROLES: tuple[str, ...] = ("data_officer", "investigator", "approver", "company_admin")
EXTRACT_STATUSES = ("active", "superseded")
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
HIT_STATUSES = ("open", "resolved_by_data")
BANDS = ("strong", "review")
REVEAL_REQUEST_STATUSES = ("pending", "approved", "denied", "expired")
DECISIONS = ("approve", "deny")
OUTCOMES = ("no_issue_explained", "data_error", "confirmed_breach", "referred")
OUTCOME_REASONS = ("notice_period_move", "approved_sublet", "co_tenant", "data_delay", "other")
POLICY_STATUSES = ("active", "retired")
RESULTS = ("allowed", "denied")


class AuditAction(StrEnum):
    """Every ``action`` an audit entry can name (docs/auditor.md, section 1, explains each)."""

    HIT_LIST = "hit.list"
    HIT_READ = "hit.read"
    HIT_OUTCOME = "hit.outcome"
    REVEAL_REQUEST = "reveal.request"
    REVEAL_APPROVE = "reveal.approve"
    REVEAL_DENY = "reveal.deny"
    REVEAL_EXPIRE = "reveal.expire"
    REVEAL_LIST = "reveal.list"
    REVEAL_READ = "reveal.read"
    DISCLOSURE_READ = "disclosure.read"
    UPLOAD_ACCEPT = "upload.accept"
    UPLOAD_REJECT = "upload.reject"
    EXTRACT_LIST = "extract.list"
    EXTRACT_READ = "extract.read"
    RUN_QUEUE = "run.queue"
    RUN_START = "run.start"
    RUN_FINISH = "run.finish"
    RUN_SKIP_EXTRACT = "run.skip_extract"
    RUN_READ = "run.read"
    RUN_LIST = "run.list"
    COMPANY_CREATE = "company.create"
    COMPANY_LIST = "company.list"
    COMPANY_KEY_ROTATE = "company.key_rotate"
    COMPANY_KEY_REVOKE = "company.key_revoke"
    USER_CREATE = "user.create"
    USER_LIST = "user.list"
    USER_REVOKE = "user.revoke"
    USER_UPDATE = "user.update"
    SESSION_START = "session.start"
    SESSION_END = "session.end"
    SESSION_LIST = "session.list"
    TOKEN_CREATE = "token.create"  # noqa: S105 - an action name, not a secret
    TOKEN_LIST = "token.list"  # noqa: S105 - an action name, not a secret
    TOKEN_ROTATE = "token.rotate"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name, not a secret
    TOKEN_EXPIRE = "token.expire"  # noqa: S105 - an action name, not a secret
    POLICY_ACTIVATE = "policy.activate"
    POLICY_RETIRE = "policy.retire"
    POLICY_LIST = "policy.list"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_ENTRIES = "audit.entries"
    AUDIT_PROOF = "audit.proof"
    AUDIT_STATS = "audit.stats"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    SUBJECT_REPORT = "subject.report"
    PURGE = "purge"
    ACCESS_DENIED = "access.denied"
    WITNESS_ADD = "witness.add"
    WITNESS_CHECKPOINT = "witness.checkpoint"
    WITNESS_COSIGN = "witness.cosign"
    WITNESS_COSIGNED = "witness.cosigned"


ACCESS_DENIED = AuditAction.ACCESS_DENIED
