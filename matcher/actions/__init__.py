"""One function per user-visible operation, shared by every door (API, web pages, CLI).

Each action takes the connection (one transaction), the acting principal (or console actor),
the time and plain input; it returns a value or a :class:`~matcher.actions.refusal.Refused`
(returned, not raised, so its audit entry commits) and writes its audit entries in the same
transaction. Routes, pages and commands parse, call one action and render. Actions import the
store and the core, never FastAPI, the pages or the CLI.
"""

__all__ = [
    "access",
    "admin",
    "audit_reads",
    "entries",
    "extracts",
    "hits",
    "principal",
    "refusal",
    "reveal",
]
