"""How long each text a person types may be: one table every door checks against.

The API's request models, the pages' form checks and the forms' ``maxlength`` attributes all
read these, so a form never accepts what the API refuses (or the other way round).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "AUDIT_FILTER_CHARS",
    "CASE_REFERENCE_CHARS",
    "COMPANY_ID",
    "COMPANY_ID_CHARS",
    "COMPANY_NAME_CHARS",
    "DECISION_REASON_CHARS",
    "JUSTIFICATION_CHARS",
    "OUTCOME_NOTE_CHARS",
    "POLICY_BYTES",
    "PURPOSE_CHARS",
    "TEXT_LIMITS",
    "USER_NAME_CHARS",
]

PURPOSE_CHARS: Final = 500
CASE_REFERENCE_CHARS: Final = 200
JUSTIFICATION_CHARS: Final = 5000
DECISION_REASON_CHARS: Final = 2000
OUTCOME_NOTE_CHARS: Final = 4000
COMPANY_ID_CHARS: Final = 64
COMPANY_NAME_CHARS: Final = 200
USER_NAME_CHARS: Final = 100
AUDIT_FILTER_CHARS: Final = 100
POLICY_BYTES: Final = 256 * 1024  # a policy is a few kB of TOML

# A company id as a manifest names it (contract.Manifest.company_id has the same form).
COMPANY_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# For the templates' maxlength attributes (``limits.purpose`` and so on).
TEXT_LIMITS: Final = {
    "purpose": PURPOSE_CHARS,
    "case_reference": CASE_REFERENCE_CHARS,
    "justification": JUSTIFICATION_CHARS,
    "decision_reason": DECISION_REASON_CHARS,
    "outcome_note": OUTCOME_NOTE_CHARS,
    "company_id": COMPANY_ID_CHARS,
    "company_name": COMPANY_NAME_CHARS,
    "user_name": USER_NAME_CHARS,
    "audit_filter": AUDIT_FILTER_CHARS,
}
