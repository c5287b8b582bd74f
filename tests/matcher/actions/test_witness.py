"""The matcher's side of witnessing (matcher.actions.witness), SQLite and PostgreSQL: one
published checkpoint per period for every witness, proofs across periods, and what a bad
cosignature gets (a clear refusal, nothing kept)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from contract import tlog
from matcher.actions import witness
from matcher.actions.principal import Principal
from matcher.core.audit import Actor
from matcher.errors import InvalidInput
from matcher.settings import Settings
from matcher.store import audit
from matcher.store.companies import add_company
from matcher.store.tables import witness_cosignatures
from tests.matcher.factories import public_pem

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
OPERATOR = Actor(id="console", role="admin", company=None)
OFFICER = Principal(99, "officer-a", "data_officer", "a")
KEY = Ed25519PrivateKey.from_private_bytes(b"w" * 32)


@pytest.fixture
def registered(engine: Engine) -> None:
    with engine.begin() as conn:
        add_company(conn, "a", "A", public_pem(Ed25519PrivateKey.generate()))
        witness.add_witness(conn, OPERATOR, T0, "a", "witness.a/w1", public_pem(KEY))


def _view(engine: Engine, settings: Settings, from_size: int, now: datetime) -> witness.WitnessView:
    with engine.begin() as conn:
        return witness.checkpoint_for(conn, OFFICER, settings, from_size, now)


def _cosign(engine: Engine, settings: Settings, view: witness.WitnessView, when: int) -> None:
    text = tlog.parse_note(view.checkpoint).text
    line = tlog.cosign(text, "witness.a/w1", KEY, when).line()
    with engine.begin() as conn:
        witness.cosign(
            conn, OFFICER, settings, view.to_size, line, datetime.fromtimestamp(when, UTC)
        )


def test_one_checkpoint_per_period_and_a_proof_across_periods(
    engine: Engine, settings: Settings, registered: None
) -> None:
    t0 = datetime.now(UTC)  # checkpoints are stamped with the real clock when signed
    first = _view(engine, settings, 0, t0)
    again = _view(engine, settings, 0, t0 + timedelta(minutes=1))  # its own read grew the log
    assert again.to_size == first.to_size and again.checkpoint == first.checkpoint
    _cosign(engine, settings, first, int(t0.timestamp()))
    later = _view(engine, settings, first.to_size, t0 + timedelta(minutes=6))
    assert later.to_size > first.to_size
    old = tlog.parse_checkpoint_body(tlog.parse_note(first.checkpoint).text)
    new = tlog.parse_checkpoint_body(tlog.parse_note(later.checkpoint).text)
    proof = [base64.b64decode(p) for p in later.proof]
    assert tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
    with engine.begin() as conn:
        note = witness.cosigned(conn, OFFICER, settings, T0)
    assert note.endswith(tlog.parse_note(note).signatures[-1].line() + "\n")
    assert "\u2014 witness.a/w1 " in note


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not a line", "not one signed-note line"),
        ("\u2014 witness.a/w1 AAAA", "not one signed-note line"),
        ("OTHER_KEY", "does not verify with a witness key registered"),
        ("FUTURE", "in the future"),
    ],
)
def test_a_bad_cosignature_is_refused_and_nothing_kept(
    engine: Engine, settings: Settings, registered: None, line: str, why: str
) -> None:
    view = _view(engine, settings, 0, T0)
    text = tlog.parse_note(view.checkpoint).text
    if line == "OTHER_KEY":
        line = tlog.cosign(text, "witness.a/w1", Ed25519PrivateKey.generate(), 1).line()
    elif line == "FUTURE":
        line = tlog.cosign(text, "witness.a/w1", KEY, int(T0.timestamp()) + 3600).line()
    with engine.begin() as conn, pytest.raises(InvalidInput, match=why):
        witness.cosign(conn, OFFICER, settings, view.to_size, line, T0)
    with engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(witness_cosignatures)).scalar_one()
        assert kept == 0 and audit.log_size(conn) > 0


def test_a_witness_key_must_be_ed25519_and_its_name_plain(engine: Engine, registered: None) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="witness name"):
            witness.add_witness(conn, OPERATOR, T0, "a", "has space", public_pem(KEY))
        with pytest.raises(InvalidInput, match="witness key"):
            witness.add_witness(conn, OPERATOR, T0, "a", "witness.a/w2", "not a pem")
