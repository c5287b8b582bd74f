"""A refusal an action returns instead of raising, so its audit entry commits with it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Refused"]


@dataclass(frozen=True)
class Refused:
    """An action the policy (or the data) refused; already written to the audit log.

    ``status``/``slug``/``title``/``detail`` make the API's problem response; ``code`` is the
    policy's reason code (None for problems that are not the policy's, like personal data)."""

    status: int
    slug: str
    title: str
    detail: str
    code: str | None = None
