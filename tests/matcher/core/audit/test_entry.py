"""Audit entries (matcher.core.audit.entry): canonical JSON, frozen object ids, the refusal of
malformed entries and of strings that look like personal data."""

from __future__ import annotations

import re

import pytest

from matcher.core.audit import (
    Actor,
    AuditEntry,
    InvalidAuditEntry,
    Outcome,
    PersonalDataInEntry,
    PolicyRef,
    format_time,
)


# --- entries -----------------------------------------------------------------------------------
def make_entry(**changes: object) -> AuditEntry:
    values: dict[str, object] = {
        "seq": 0,
        "time": "2025-03-01T09:30:00.000000Z",
        "actor": Actor("u-17", "investigator", "bostadsbolaget-a"),
        "action": "reveal.request",
        "object_ids": {"hit": "4c1f8e2a-9b6d-4e1f-8a3c-426614174000"},
        "policy": PolicyRef("concurrent-tenancy", "sha256:" + "ab12" * 16),
        "purpose": "concurrent-tenancy",
        "case_reference": "CASE-2025-0042",
        "fields": ("first_name", "last_name"),
        "outcome": Outcome("allowed", None),
        "request_id": "req-000081",
    }
    values.update(changes)
    return AuditEntry(**values)  # type: ignore[arg-type]


def test_entries_serialise_to_canonical_json_and_back() -> None:
    entry = make_entry(seq=7)
    data = entry.to_json()
    assert data.startswith(b'{"action":"reveal.request","actor":{"company":"bostadsbolaget-a"')
    assert b" " not in data and b'"object":{"hit":' in data
    assert AuditEntry.from_json(data) == entry
    assert AuditEntry.from_json(data).to_json() == data


def test_entry_object_ids_can_not_be_changed_after_logging() -> None:
    ids = {"hit": "h1"}
    entry = make_entry(object_ids=ids)
    ids["hit"] = "h2"
    assert entry.object_ids["hit"] == "h1"
    with pytest.raises(TypeError):
        entry.object_ids["hit"] = "h3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("where", "changes"),
    [
        ("purpose", {"purpose": "check 19850101-1234 please"}),
        ("case_reference", {"case_reference": "850101-1234"}),
        ("outcome.reason", {"outcome": Outcome("denied", "person 198501011234 not found")}),
        ("object.person", {"object_ids": {"person": "8501011234"}}),
        ("actor.id", {"actor": Actor("anna.svensson@example.se", "approver", "b")}),
        ("request_id", {"request_id": "samordning 850161+1234"}),
    ],
)
def test_entries_refuse_personal_data_and_do_not_echo_it(
    where: str, changes: dict[str, object]
) -> None:
    with pytest.raises(PersonalDataInEntry) as caught:
        make_entry(**changes)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert where in message
    assert not re.search(r"\d{4}|@", message)


def test_ids_digests_and_uuids_are_not_mistaken_for_personal_data() -> None:
    entry = make_entry(
        object_ids={
            "extract": "19850101-1234-4abc-8def-426614174000",  # UUID-shaped, digits only
            "run": "42",
            "digest": "sha256:198501011234abcdef",
        },
        case_reference="Dnr 2025/1234",
    )
    assert entry.object_ids["run"] == "42"


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": -1},
        {"time": "2025-03-01 09:30:00"},
        {"time": "2025-03-01T09:30:00+01:00"},
        {"time": "2025-02-30T09:30:00Z"},
        {"action": ""},
        {"outcome": Outcome("maybe", None)},  # type: ignore[arg-type]
    ],
)
def test_malformed_entries_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidAuditEntry):
        make_entry(**changes)


def test_parsing_refuses_unknown_or_missing_keys() -> None:
    data = make_entry().to_dict()
    with pytest.raises(InvalidAuditEntry, match="unexpected"):
        AuditEntry.from_dict({**data, "name": "x"})
    del data["fields"]
    with pytest.raises(InvalidAuditEntry, match="missing"):
        AuditEntry.from_dict(data)


def test_format_time_gives_utc_with_z() -> None:
    from datetime import datetime, timedelta, timezone

    moment = datetime(2025, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2025-03-01T09:30:00.000000Z"
    with pytest.raises(InvalidAuditEntry):
        format_time(datetime(2025, 3, 1, 10, 30))  # naive: refused
