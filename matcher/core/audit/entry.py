"""Audit entries: who did what to which object under which policy, and whether it was allowed.

An :class:`AuditEntry` is one leaf of the log. :meth:`AuditEntry.to_json` gives its canonical
JSON (sorted keys, no spaces, UTF-8): the exact bytes that are hashed into the tree and written
to an export. Building or parsing an entry validates it, including a guard against strings that
look like personal data (a personnummer or an e-mail address): entries leave the company
(auditors, exports), personal data must not.

No I/O and no clock here: the entry time comes in as an argument (:func:`format_time`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, cast

from contract import canonical_json
from matcher.core.audit.errors import InvalidAuditEntry, PersonalDataInEntry

__all__ = ["Actor", "AuditEntry", "Outcome", "PolicyRef", "format_time", "looks_personal"]

Result = Literal["allowed", "denied"]
_RESULTS: tuple[Result, ...] = ("allowed", "denied")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")

# Defence in depth: callers put ids, codes and reasons in entries, never personal data. These
# catch the likely slips. A Swedish personnummer/samordningsnummer (10 or 12 digits, optional
# - or + before the last four) with a plausible month and day (day + 60 for samordningsnummer);
# the look-arounds keep digit runs inside UUIDs, hex digests and longer ids from matching.
_PERSONNUMMER = re.compile(
    r"(?<![\w-])(?:19|20)?\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"
    r"[-+]?\d{4}(?![\w-])"
)
_EMAIL = re.compile(r"[^\s@\"']+@[^\s@\"']+\.[A-Za-z]{2,}")


def looks_personal(text: str) -> bool:
    """Whether ``text`` looks like a personnummer or an e-mail address (what entries refuse)."""
    return bool(_PERSONNUMMER.search(text) or _EMAIL.search(text))


@dataclass(frozen=True)
class Actor:
    """Who acted: a user id (opaque, never a name or e-mail), role, and company (None for the
    matcher's own admins, auditors and the system)."""

    id: str
    role: str
    company: str | None


@dataclass(frozen=True)
class PolicyRef:
    """The legal-basis policy an action was decided under, by id and file digest."""

    id: str
    digest: str


@dataclass(frozen=True)
class Outcome:
    """Whether the action was allowed, and why (a reason code or short text)."""

    result: Result
    reason: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One log entry. ``to_json`` gives the exact bytes that are hashed into the tree.

    ``object_ids`` is serialised as ``"object"`` (ids of the things acted on, e.g. hit, request,
    extract). ``time`` is ISO 8601 UTC with a ``Z`` suffix; :func:`format_time` makes one.
    ``request_id`` is a *reveal* request's id (reveal entries). ``http_request_id`` is the id of
    the HTTP request the entry was written for (the ``X-Request-ID`` of its answer and of its
    server log line); it is a member of the JSON only when set, so entries written before it
    existed keep their exact bytes and hashes.
    """

    seq: int
    time: str
    actor: Actor
    action: str
    outcome: Outcome  # no default: an entry must say whether the action was allowed
    object_ids: Mapping[str, str] = field(default_factory=dict)
    policy: PolicyRef | None = None
    purpose: str | None = None
    case_reference: str | None = None
    fields: tuple[str, ...] = ()
    request_id: str | None = None
    http_request_id: str | None = None

    def __post_init__(self) -> None:
        # Freeze the mapping: a frozen entry whose object ids can still change is not frozen.
        object.__setattr__(self, "object_ids", MappingProxyType(dict(self.object_ids)))
        object.__setattr__(self, "fields", tuple(self.fields))
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        members = {
            "seq": self.seq,
            "time": self.time,
            "actor": {"id": self.actor.id, "role": self.actor.role, "company": self.actor.company},
            "action": self.action,
            "object": dict(self.object_ids),
            "policy": (
                None
                if self.policy is None
                else {"id": self.policy.id, "digest": self.policy.digest}
            ),
            "purpose": self.purpose,
            "case_reference": self.case_reference,
            "fields": list(self.fields),
            "outcome": {"result": self.outcome.result, "reason": self.outcome.reason},
            "request_id": self.request_id,
        }
        if self.http_request_id is not None:
            members["http_request_id"] = self.http_request_id
        return members

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces, UTF-8): the leaf's input bytes."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> AuditEntry:
        """Parse and validate one entry. Raises :class:`InvalidAuditEntry` for anything that is
        not exactly the shape :meth:`to_json` writes (unknown or missing keys, wrong types)."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidAuditEntry("the entry is not valid JSON") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: object) -> AuditEntry:
        keys = _ENTRY_KEYS | (
            {"http_request_id"} if isinstance(raw, dict) and "http_request_id" in raw else set()
        )
        obj = _object(raw, "entry", keys)
        actor = _object(obj["actor"], "actor", {"id", "role", "company"})
        policy_raw = obj["policy"]
        policy = None
        if policy_raw is not None:
            policy_obj = _object(policy_raw, "policy", {"id", "digest"})
            policy = PolicyRef(
                _str(policy_obj, "id", "policy"), _str(policy_obj, "digest", "policy")
            )
        outcome = _object(obj["outcome"], "outcome", {"result", "reason"})
        result = outcome["result"]
        if result not in _RESULTS:
            raise InvalidAuditEntry("outcome.result must be 'allowed' or 'denied'")
        objects = obj["object"]
        if not isinstance(objects, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in objects.items()
        ):
            raise InvalidAuditEntry("'object' must map id names to string ids")
        fields = obj["fields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise InvalidAuditEntry("'fields' must be a list of field names")
        seq = obj["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise InvalidAuditEntry("'seq' must be an integer")
        return cls(
            seq=seq,
            time=_str(obj, "time", "entry"),
            actor=Actor(
                _str(actor, "id", "actor"),
                _str(actor, "role", "actor"),
                _opt_str(actor, "company", "actor"),
            ),
            action=_str(obj, "action", "entry"),
            object_ids=objects,
            policy=policy,
            purpose=_opt_str(obj, "purpose", "entry"),
            case_reference=_opt_str(obj, "case_reference", "entry"),
            fields=tuple(fields),
            outcome=Outcome(cast(Result, result), _opt_str(outcome, "reason", "outcome")),
            request_id=_opt_str(obj, "request_id", "entry"),
            http_request_id=(
                _str(obj, "http_request_id", "entry") if "http_request_id" in obj else None
            ),
        )


_ENTRY_KEYS = {
    "seq",
    "time",
    "actor",
    "action",
    "object",
    "policy",
    "purpose",
    "case_reference",
    "fields",
    "outcome",
    "request_id",
}


def _object(raw: object, name: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidAuditEntry(f"'{name}' must be a JSON object")
    if set(raw) != keys:
        missing, extra = sorted(keys - set(raw)), sorted(set(raw) - keys)
        raise InvalidAuditEntry(
            f"'{name}' must have exactly the keys {sorted(keys)}; missing {missing}, "
            f"unexpected {extra}"
        )
    return raw


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidAuditEntry(f"{where}.{key} must be a string")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj[key]
    if value is not None and not isinstance(value, str):
        raise InvalidAuditEntry(f"{where}.{key} must be a string or null")
    return value


def format_time(moment: datetime) -> str:
    """The entry ``time`` for an aware datetime: UTC, ISO 8601, microseconds, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise InvalidAuditEntry("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _validate(entry: AuditEntry) -> None:
    if not isinstance(entry.seq, int) or isinstance(entry.seq, bool) or entry.seq < 0:
        raise InvalidAuditEntry("seq must be a non-negative integer")
    if not _TIME.fullmatch(entry.time):
        raise InvalidAuditEntry(
            "time must be ISO 8601 UTC like 2025-01-31T12:00:00.000000Z (use format_time)"
        )
    try:
        datetime.fromisoformat(entry.time.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidAuditEntry("time is not a real date and time") from exc
    if not entry.action:
        raise InvalidAuditEntry("action must not be empty")
    if entry.outcome.result not in _RESULTS:
        raise InvalidAuditEntry("outcome.result must be 'allowed' or 'denied'")
    for where, value in _strings(entry):
        if _PERSONNUMMER.search(value):
            raise PersonalDataInEntry(
                f"{where} looks like it holds a personal identity number; audit entries hold "
                "ids and reasons only, never personal data"
            )
        if _EMAIL.search(value):
            raise PersonalDataInEntry(
                f"{where} looks like it holds an e-mail address; audit entries hold ids and "
                "reasons only, never personal data (use the user id)"
            )


def _strings(entry: AuditEntry) -> list[tuple[str, str]]:
    found = [
        ("time", entry.time),
        ("actor.id", entry.actor.id),
        ("actor.role", entry.actor.role),
        ("action", entry.action),
    ]
    optional = [
        ("actor.company", entry.actor.company),
        ("purpose", entry.purpose),
        ("case_reference", entry.case_reference),
        ("outcome.reason", entry.outcome.reason),
        ("request_id", entry.request_id),
        ("http_request_id", entry.http_request_id),
    ]
    if entry.policy is not None:
        optional += [("policy.id", entry.policy.id), ("policy.digest", entry.policy.digest)]
    found += [(where, value) for where, value in optional if value is not None]
    for key, value in entry.object_ids.items():
        found += [("object key", key), (f"object.{key}", value)]
    found += [(f"fields[{i}]", name) for i, name in enumerate(entry.fields)]
    return found
