"""The audit log in the database: appends commit with their change or not at all, seq has no
gaps under concurrency, the stored nodes give the same proofs and roots as the pure tree, and
checkpoints are signed with the data directory's log key."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from matcher.auditlog import export_lines, verify_export_lines
from matcher.core.audit import (
    Actor,
    MemoryTree,
    Outcome,
    PersonalDataInEntry,
    PolicyRef,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    parse_and_verify_checkpoint,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from matcher.crypto import log_public_key
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.tables import audit_entries, companies

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ALICE = Actor("7", "investigator", "a")


def _append(engine: Engine, n: int, start: int = 0) -> list[int]:
    seqs = []
    for i in range(start, start + n):
        with engine.begin() as conn:
            seqs.append(
                audit.append(
                    conn,
                    actor=ALICE,
                    action="hit.read",
                    outcome=Outcome("allowed"),
                    now=T0 + timedelta(minutes=i),
                    object_ids={"hit": str(i), "company": "a" if i % 2 else "b"},
                )
            )
    return seqs


def _leaves(engine: Engine) -> list[bytes]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_entries.c.entry).order_by(audit_entries.c.seq))
        return [leaf_hash(bytes(r.entry)) for r in rows]


def test_init_logged_the_first_admin_and_seq_continues_without_gaps(engine: Engine) -> None:
    with engine.connect() as conn:
        first = audit.entries(conn).items
    assert [(e.seq, e.action, e.actor.id) for e in first] == [(0, "user.create", "init")]
    assert _append(engine, 5) == [1, 2, 3, 4, 5]


def test_entry_rolls_back_with_its_change(engine: Engine) -> None:
    before = _append(engine, 0)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(
            companies.insert().values(
                id="x", name="X", signing_public_key="k", created_at=datetime.now(UTC)
            )
        )
        audit.append(conn, actor=ALICE, action="company.create", outcome=Outcome("allowed"), now=T0)
        raise RuntimeError("the change fails after its entry was appended")
    with engine.connect() as conn:
        assert audit.log_size(conn) == 1 + len(before)
        assert conn.execute(select(func.count()).select_from(companies)).scalar_one() == 0


def test_personal_data_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(PersonalDataInEntry, match="case_reference"), engine.begin() as conn:
        audit.append(
            conn,
            actor=ALICE,
            action="reveal.request",
            outcome=Outcome("allowed"),
            now=T0,
            case_reference="19900101-1234",
        )
    with engine.connect() as conn:
        assert audit.log_size(conn) == 1


def test_stored_nodes_prove_like_the_pure_tree(engine: Engine) -> None:
    _append(engine, 20)
    leaves = _leaves(engine)
    memory = MemoryTree()
    memory.extend(leaves)
    with engine.connect() as conn:
        nodes = audit.node_source(conn)
        for size in (1, 2, 7, 13, 21):
            assert tree_root(nodes, size) == memory.root(size)
            for index in (0, size // 2, size - 1):
                proof = inclusion_proof(nodes, index, size)
                assert proof == inclusion_proof(leaves, index, size)
                assert verify_inclusion(leaves[index], index, size, proof, memory.root(size))
        proof = consistency_proof(nodes, 6, 21)
        assert verify_consistency(6, 21, memory.root(6), memory.root(21), proof)


def test_entries_filter_and_paginate(engine: Engine) -> None:
    _append(engine, 9)
    with engine.connect() as conn:
        page = audit.entries(conn, audit.EntryFilter(action="hit.read"), limit=4)
        seen = [e.seq for e in page.items]
        while page.next_cursor:
            page = audit.entries(
                conn, audit.EntryFilter(action="hit.read"), cursor=page.next_cursor, limit=4
            )
            seen += [e.seq for e in page.items]
        assert seen == list(range(1, 10))
        odd = audit.entries(conn, audit.EntryFilter(company="a")).items
        # "a" is the actor's company on every entry: all nine match.
        assert len(odd) == 9
        window = audit.EntryFilter(
            time_from=T0 + timedelta(minutes=2), time_to=T0 + timedelta(minutes=4)
        )
        assert [e.seq for e in audit.entries(conn, window).items] == [3, 4, 5]
        assert audit.entries(conn, audit.EntryFilter(actor="nobody")).items == []


def test_checkpoint_is_signed_with_the_log_key_and_cached(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, 4)
    public = log_public_key(settings.log_private_key_path.read_bytes())
    with engine.begin() as conn:
        note = audit.latest_checkpoint(conn, settings)
        again = audit.latest_checkpoint(conn, settings)
        older = audit.latest_checkpoint(conn, settings, 2)
    checkpoint = parse_and_verify_checkpoint(note, public, settings.log_origin)
    assert checkpoint.size == 5 and note == again
    assert parse_and_verify_checkpoint(older, public, settings.log_origin).size == 2
    memory = MemoryTree()
    memory.extend(_leaves(engine))
    assert checkpoint.root == memory.root()


def test_concurrent_appends_have_no_gaps_and_the_export_verifies(
    engine: Engine, settings: Settings
) -> None:
    threads, per_thread = 20, 3
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(per_thread):
                with engine.begin() as conn:
                    audit.append(
                        conn,
                        actor=Actor(str(worker), "approver", "b"),
                        action="reveal.approve",
                        outcome=Outcome("allowed"),
                        now=T0 + timedelta(seconds=i),
                        object_ids={"request": f"r-{worker}-{i}"},
                        policy=PolicyRef("concurrent-tenancy", "sha256:" + "0" * 64),
                    )
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with engine.begin() as conn:
        size = audit.log_size(conn)
        seqs = conn.execute(select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars()
        assert list(seqs) == list(range(size)) and size == 1 + threads * per_thread
        note = audit.latest_checkpoint(conn, settings)
        origin = settings.log_origin
        lines = list(export_lines(origin, origin, audit.entry_bytes(conn, size, batch=7), note))
    public = log_public_key(settings.log_private_key_path.read_bytes())
    summary = verify_export_lines(lines, public)
    assert summary.size == size
