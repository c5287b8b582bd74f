"""Offline verification of an audit export (matcher.core.audit.export, read and written through
its file edge matcher.auditlog): what an auditor with only the public key detects.

Each mutation is one a dishonest operator or a damaged copy could produce; the verifier must
refuse it and name the first bad entry, or say why when no single entry is at fault.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from matcher.auditlog import verify_export, write_export
from matcher.core.audit import (
    EXPORT_FORMAT,
    Actor,
    AuditEntry,
    CheckpointError,
    Outcome,
    PolicyRef,
    VerifyError,
    format_time,
    leaf_hash,
    root,
    sign_checkpoint,
)
from matcher.crypto import generate_log_key, log_public_key

ORIGIN = "matcher.example/audit"
KEY_NAME = "matcher.example-audit"
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ACTIONS = ["upload.accepted", "run.finished", "reveal.request", "reveal.approve", "disclosure.read"]


def make_entries(count: int, seed: int = 4) -> list[AuditEntry]:
    rng = random.Random(seed)
    entries = []
    for seq in range(count):
        denied = rng.random() < 0.2
        entries.append(
            AuditEntry(
                seq=seq,
                time=format_time(START + timedelta(seconds=seq)),
                actor=Actor(f"u-{rng.randrange(1, 9)}", "investigator", f"company-{seq % 3}"),
                action=rng.choice(ACTIONS),
                object_ids={"hit": f"hit-{rng.randrange(1000)}"},
                policy=PolicyRef("concurrent-tenancy", "sha256:" + "0f" * 32),
                purpose="concurrent-tenancy",
                case_reference=f"CASE-{rng.randrange(100):03d}",
                fields=("first_name",) if rng.random() < 0.5 else (),
                outcome=Outcome("denied", "not-requester") if denied else Outcome("allowed"),
                request_id=f"req-{seq:05d}",
            )
        )
    return entries


class Log:
    """An exported log and its keys; ``lines`` are the file's lines, for mutating."""

    def __init__(self, tmp_path: Path, count: int = 40) -> None:
        self.private_pem = generate_log_key()
        self.public_pem = log_public_key(self.private_pem)
        self.entries = [e.to_json() for e in make_entries(count)]
        self.path = tmp_path / "audit.jsonl"
        write_export(self.path, ORIGIN, KEY_NAME, self.entries, self.checkpoint(self.entries))
        self.lines = self.path.read_bytes().split(b"\n")[:-1]

    def checkpoint(self, entries: list[bytes], private_pem: bytes | None = None) -> str:
        r = root([leaf_hash(e) for e in entries])
        return sign_checkpoint(ORIGIN, len(entries), r, KEY_NAME, private_pem or self.private_pem)

    def entry_lines(self) -> list[bytes]:
        return self.lines[1:-1]

    def write(self, lines: list[bytes]) -> Path:
        out = self.path.with_name("mutated.jsonl")
        out.write_bytes(b"".join(line + b"\n" for line in lines))
        return out

    def with_entries(self, entries: list[bytes], note: str | None = None) -> Path:
        checkpoint = self.lines[-1] if note is None else json.dumps({"checkpoint": note}).encode()
        return self.write([self.lines[0], *entries, checkpoint])

    def refused(self, path: Path, **kwargs: object) -> VerifyError:
        with pytest.raises(VerifyError) as caught:
            verify_export(path, self.public_pem, **kwargs)  # type: ignore[arg-type]
        return caught.value


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path)


def test_an_intact_export_verifies_with_a_one_line_summary(log: Log) -> None:
    summary = verify_export(log.path, log.public_pem)
    assert (summary.origin, summary.key_name, summary.size) == (ORIGIN, KEY_NAME, 40)
    assert summary.root == root([leaf_hash(e) for e in log.entries])
    assert json.loads(log.lines[0]) == {
        "format": EXPORT_FORMAT,
        "origin": ORIGIN,
        "key_name": KEY_NAME,
    }
    assert log.entry_lines() == log.entries
    line = summary.line()
    assert line.startswith("OK: 40 entries (seq 0-39, 2025-03-01T09:00:00.000000Z to ")
    assert KEY_NAME in line and "\n" not in line


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    log = Log(tmp_path, count=0)
    assert verify_export(log.path, log.public_pem).size == 0


def test_a_flipped_bit_that_breaks_an_entry_names_that_entry(log: Log) -> None:
    entries = log.entry_lines()
    # '{' -> 'y' at the start of entry 17: no longer JSON.
    entries[17] = bytes([entries[17][0] ^ 0x02]) + entries[17][1:]
    error = log.refused(log.with_entries(entries))
    assert (error.seq, error.line) == (17, 19)
    assert "not valid JSON" in error.reason
    assert str(error).startswith("entry seq 17 (line 19): ")


def test_a_flipped_bit_inside_a_value_is_caught_by_the_root(log: Log) -> None:
    entries = log.entry_lines()
    at = entries[23].index(b'"request_id":"req-') + len(b'"request_id":"req-')
    entries[23] = entries[23][:at] + bytes([entries[23][at] ^ 0x01]) + entries[23][at + 1 :]
    error = log.refused(log.with_entries(entries))
    assert "do not hash to the root the checkpoint signs" in error.reason
    assert error.seq is None


def test_a_flipped_bit_in_the_seq_names_the_entry(log: Log) -> None:
    entries = log.entry_lines()
    entries[8] = entries[8].replace(b'"seq":8,', b'"seq":9,')  # 0x38 -> 0x39: one bit
    error = log.refused(log.with_entries(entries))
    assert error.seq == 8 and "expected seq 8 but found 9" in error.reason


def test_a_non_canonical_rewrite_names_the_entry(log: Log) -> None:
    entries = log.entry_lines()
    entries[5] = json.dumps(json.loads(entries[5]), sort_keys=True).encode()  # adds spaces
    error = log.refused(log.with_entries(entries))
    assert error.seq == 5 and "canonical" in error.reason


def test_a_dropped_entry_is_named(log: Log) -> None:
    entries = log.entry_lines()
    del entries[12]
    error = log.refused(log.with_entries(entries))
    assert error.seq == 12 and "entry 12 is missing" in error.reason


def test_a_dropped_last_entry_is_named(log: Log) -> None:
    error = log.refused(log.with_entries(log.entry_lines()[:-1]))
    assert error.seq == 39 and "covers 40 entries but the export holds 39" in error.reason


def test_an_inserted_entry_is_named(log: Log) -> None:
    entries = log.entry_lines()
    entries.insert(6, entries[5])
    error = log.refused(log.with_entries(entries))
    assert error.seq == 6 and "inserted" in error.reason


def test_an_inserted_and_renumbered_entry_is_caught_by_the_root(log: Log) -> None:
    entries = [json.loads(e) for e in log.entry_lines()]
    entries.insert(6, {**entries[6], "action": "disclosure.read"})
    renumbered = [AuditEntry.from_dict({**e, "seq": i}).to_json() for i, e in enumerate(entries)]
    # 41 entries under a checkpoint for 40: the first one past the checkpoint is named ...
    error = log.refused(log.with_entries(renumbered))
    assert error.seq == 40 and "not covered by the signed checkpoint" in error.reason
    # ... and with the last one dropped to fit the size, the root gives the forgery away.
    error = log.refused(log.with_entries(renumbered[:40]))
    assert error.seq is None and "do not hash to the root" in error.reason


def test_reordered_entries_are_named(log: Log) -> None:
    entries = log.entry_lines()
    entries[10], entries[11] = entries[11], entries[10]
    error = log.refused(log.with_entries(entries))
    assert error.seq == 10 and "expected seq 10 but found 11" in error.reason


def test_a_personal_data_entry_is_named(log: Log) -> None:
    entries = log.entry_lines()
    entries[3] = entries[3].replace(b'"purpose":"concurrent-tenancy"', b'"purpose":"850101-1234"')
    error = log.refused(log.with_entries(entries))
    assert error.seq == 3 and "personal identity number" in error.reason
    assert "1234" not in str(error)


def test_the_wrong_public_key_is_refused(log: Log) -> None:
    other = log_public_key(generate_log_key())
    with pytest.raises(VerifyError, match="does not verify with the given public key"):
        verify_export(log.path, other)


def test_an_export_re_signed_by_another_key_is_refused(log: Log) -> None:
    entries = log.entry_lines()
    del entries[20]
    renumbered = [
        AuditEntry.from_dict({**json.loads(e), "seq": i}).to_json() for i, e in enumerate(entries)
    ]
    forged = log.with_entries(renumbered, log.checkpoint(renumbered, generate_log_key()))
    assert "does not verify" in log.refused(forged).reason


def test_a_checkpoint_for_a_different_size_names_the_first_uncovered_entry(log: Log) -> None:
    error = log.refused(log.with_entries(log.entry_lines(), log.checkpoint(log.entries[:30])))
    assert error.seq == 30 and "covers only 30" in error.reason


def test_a_tampered_signature_line_is_refused(log: Log) -> None:
    note = json.loads(log.lines[-1])["checkpoint"]
    body, signature = note.split("\n\n")
    name, blob = signature.rsplit(" ", 1)
    tampered = f"{body}\n\n{name} {blob[:10]}{'A' if blob[10] != 'A' else 'B'}{blob[11:]}"
    error = log.refused(log.with_entries(log.entry_lines(), tampered))
    assert "checkpoint does not verify" in error.reason


def test_a_flipped_bit_in_the_checkpoint_root_is_refused(log: Log) -> None:
    note = json.loads(log.lines[-1])["checkpoint"]
    root_line = note.split("\n")[2]
    flipped = chr(ord(root_line[5]) ^ 0x01)
    tampered = note.replace(root_line, root_line[:5] + flipped + root_line[6:])
    error = log.refused(log.with_entries(log.entry_lines(), tampered))
    assert "does not verify" in error.reason


def test_a_correctly_signed_but_wrong_root_is_refused(log: Log) -> None:
    wrong = sign_checkpoint(ORIGIN, 40, b"\x07" * 32, KEY_NAME, log.private_pem)
    error = log.refused(log.with_entries(log.entry_lines(), wrong))
    assert "do not hash to the root" in error.reason


def test_a_changed_key_name_in_the_header_is_refused(log: Log) -> None:
    header = json.loads(log.lines[0])
    header["key_name"] = "someone-else"
    path = log.write([json.dumps(header).encode(), *log.lines[1:]])
    assert "not signed by key 'someone-else'" in log.refused(path).reason
    assert "key name" in log.refused(log.path, key_name="pinned-name").reason


def test_a_missing_or_trailing_checkpoint_is_refused(log: Log) -> None:
    assert "no checkpoint line" in log.refused(log.write(log.lines[:-1])).reason
    error = log.refused(log.write([*log.lines, log.lines[1]]))
    assert "follows the checkpoint" in error.reason and error.line == 43


def test_a_file_that_is_not_an_export_is_refused(log: Log, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": "world"}\n', encoding="utf-8")
    assert "not a crosscheck-audit-export-v1 header" in log.refused(other).reason
    assert "cannot read" in log.refused(tmp_path / "missing.jsonl").reason
    with pytest.raises(VerifyError, match="public key is unusable"):
        verify_export(log.path, b"not a key")


def test_a_pinned_checkpoint_detects_a_rewritten_history(log: Log) -> None:
    pinned = log.checkpoint(log.entries[:25])
    # Appending only: the earlier checkpoint still holds.
    assert verify_export(log.path, log.public_pem, pinned_checkpoint=pinned).pinned_size == 25
    # The operator (who has the key) changes entry 7 and re-signs everything.
    entries = list(log.entries)
    entries[7] = entries[7].replace(b'"outcome":{"reason":null', b'"outcome":{"reason":"x"')
    assert entries[7] != log.entries[7]
    rewritten = log.with_entries(entries, log.checkpoint(entries))
    assert verify_export(rewritten, log.public_pem).size == 40  # alone, it looks fine
    error = log.refused(rewritten, pinned_checkpoint=pinned)
    assert "entries 0-24 no longer hash to the pinned checkpoint" in error.reason


def test_a_pinned_checkpoint_narrows_down_an_altered_entry(log: Log) -> None:
    pinned = log.checkpoint(log.entries[:25])
    entries = log.entry_lines()
    entries[31] = entries[31].replace(b'"request_id":"req-00031"', b'"request_id":"req-00131"')
    error = log.refused(log.with_entries(entries), pinned_checkpoint=pinned)
    assert "the change is at seq 25 or later" in error.reason


def test_writing_an_export_with_a_checkpoint_for_other_entries_is_refused(
    log: Log, tmp_path: Path
) -> None:
    out = tmp_path / "bad.jsonl"
    with pytest.raises(CheckpointError, match="for size 30 but 40 entries"):
        write_export(out, ORIGIN, KEY_NAME, log.entries, log.checkpoint(log.entries[:30]))
    assert not out.exists()
    assert list(tmp_path.glob(".audit-export-*")) == []
