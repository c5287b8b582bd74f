"""Who acts: the signed-in person every door (API token, web session, console) resolves to.

The API and the pages turn a token or a session into a :class:`Principal`; console commands
act as :func:`console_actor`-style :class:`~matcher.core.audit.Actor` values. Actions take one
of these, never a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcher.core.audit import Actor
from matcher.errors import PermissionDenied

__all__ = ["ANONYMOUS", "Principal", "actor_of"]

ANONYMOUS = Actor(id="anonymous", role="anonymous", company=None)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    role: str
    company_id: str | None

    def own_company(self) -> str:
        """The company a company role is bound to (admins and auditors have none)."""
        if self.company_id is None:
            raise PermissionDenied(f"role {self.role} is not bound to a company")
        return self.company_id

    @property
    def actor(self) -> Actor:
        """Who the audit log names: the opaque user id, never the user name or the token."""
        return Actor(id=str(self.user_id), role=self.role, company=self.company_id)


def actor_of(who: Principal | Actor) -> Actor:
    """The audit actor of a principal, or the actor itself (console and system actions)."""
    return who.actor if isinstance(who, Principal) else who
