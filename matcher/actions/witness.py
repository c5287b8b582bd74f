"""The companies' witnesses of the access log (C2SP tlog-witness, pull model).

A company's witness (``connector witness``, run from cron) asks for the newest checkpoint and a
consistency proof from the size it cosigned last (:func:`checkpoint_for`), checks both against
the log key it pinned, and sends back an Ed25519 cosignature/v1 line (:func:`cosign`), which is
kept only when it verifies with a witness key the operator registered for that company
(:func:`add_witness`). :func:`cosigned` is the newest cosigned checkpoint with every
cosignature, as an auditor gives it to ``matcher audit verify --cosigned``: a matcher that
showed one company's witness a history the others did not see can not collect their
cosignatures for it. Each call leaves its entry (``witness.*``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection

from contract.tlog import NoteError, Signature, parse_note, verify_cosignature
from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Actor, consistency_proof
from matcher.core.vocabulary import AuditAction
from matcher.crypto import normalise_signing_public_key
from matcher.errors import InvalidInput, NotFound
from matcher.store import audit
from matcher.store import witnesses as store
from matcher.store.companies import get_company
from matcher.store.witnesses import Witness

__all__ = ["WitnessView", "add_witness", "checkpoint_for", "cosign", "cosigned", "witnesses_of"]

_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class WitnessView:
    """The newest checkpoint and the proof that it extends the tree of ``from_size``."""

    checkpoint: str
    from_size: int
    to_size: int
    proof: tuple[str, ...]


def add_witness(
    conn: Connection, who: Principal | Actor, now: datetime, company_id: str, name: str, pem: str
) -> Witness:
    """Register company ``company_id``'s witness key ``name`` (operator only)."""
    if get_company(conn, company_id) is None:
        raise NotFound(f"no company {company_id}")
    if not name or len(name) > 200 or any(c.isspace() or c == "+" for c in name):
        raise InvalidInput(
            "a witness name is 1-200 characters without spaces or '+', e.g. "
            "witness.bostadsbolaget.se/w1"
        )
    try:
        canonical = normalise_signing_public_key(pem)
    except InvalidInput as exc:
        raise InvalidInput(f"witness key: {exc}") from None
    witness = store.add_witness(conn, company_id, name, canonical, now)
    record(conn, who, AuditAction.WITNESS_ADD, now, {"company": company_id, "witness": name})
    return witness


def witnesses_of(conn: Connection, company_id: str | None = None) -> list[Witness]:
    return store.list_witnesses(conn, company_id)


def checkpoint_for(
    conn: Connection,
    who: Principal,
    key: audit.LogKey,
    from_size: int,
    now: datetime,
    publish_every: timedelta = timedelta(minutes=5),
) -> WitnessView:
    """The published checkpoint, and the consistency proof from ``from_size`` (the size the
    witness cosigned last; 0 the first time).

    Every read of the log is itself an entry, so the log grows with each witness's visit; if
    each got the current size, no two witnesses would ever cosign the same checkpoint. The
    newest checkpoint signed within ``publish_every`` is therefore served to all of them (a
    new one is signed when it is older), so the witnesses polling in one period cosign one
    checkpoint together."""
    size = audit.log_size(conn)
    published = audit.newest_signed_checkpoint(conn)
    fresh = published is not None and now - published[2] <= publish_every
    if published is not None and fresh and from_size <= published[0] > 0:
        size = published[0]
    if not 0 <= from_size <= size:
        raise InvalidInput(
            f"from={from_size} is larger than the log ({size} entries): this witness saw a "
            "longer log than the matcher now shows; keep your evidence and tell the auditors"
        )
    note = audit.latest_checkpoint(conn, key, size)
    proof = consistency_proof(audit.node_source(conn), from_size, size)
    record(
        conn, who, AuditAction.WITNESS_CHECKPOINT, now, {"from": str(from_size), "to": str(size)}
    )
    return WitnessView(note, from_size, size, tuple(base64.b64encode(p).decode() for p in proof))


def _signature(line: str) -> Signature:
    try:
        (signature,) = parse_note("x\n\n" + line.strip() + "\n").signatures
    except (NoteError, ValueError):
        raise InvalidInput(
            "the cosignature is not one signed-note line: '— <witness name> <base64>'"
        ) from None
    return signature


def cosign(
    conn: Connection, who: Principal, key: audit.LogKey, size: int, line: str, now: datetime
) -> Witness:
    """Keep a witness's cosignature of the checkpoint of ``size`` when it verifies with a key
    registered for the caller's company; the witness it verified with."""
    company = who.own_company()
    current = audit.log_size(conn)
    if not 0 < size <= current:
        raise InvalidInput(f"no checkpoint of size {size}: the log has {current} entries")
    signature = _signature(line)
    text = parse_note(audit.latest_checkpoint(conn, key, size)).text
    for witness in store.list_witnesses(conn, company):
        public = serialization.load_pem_public_key(witness.public_key.encode("ascii"))
        assert isinstance(public, Ed25519PublicKey)
        timestamp = verify_cosignature(text, signature, witness.name, public)
        if timestamp is None:
            continue
        if datetime.fromtimestamp(timestamp, now.tzinfo) > now + _CLOCK_SKEW:
            raise InvalidInput("the cosignature's time is in the future; check the witness clock")
        store.store_cosignature(conn, size, witness.id, signature.line(), timestamp, now)
        record(
            conn, who, AuditAction.WITNESS_COSIGN, now, {"size": str(size), "witness": witness.name}
        )
        return witness
    raise InvalidInput(
        f"the cosignature does not verify with a witness key registered for company {company} "
        "over the checkpoint of that size; check the witness name and key with the operator"
    )


def cosigned(conn: Connection, who: Principal, key: audit.LogKey, now: datetime) -> str:
    """The newest cosigned checkpoint: the log's signed note with every cosignature line."""
    found = store.cosignature_lines(conn)
    if found is None:
        raise NotFound("no witness has cosigned a checkpoint yet")
    size, lines = found
    note = audit.latest_checkpoint(conn, key, size)
    record(conn, who, AuditAction.WITNESS_COSIGNED, now, {"size": str(size)})
    return note + "".join(line + "\n" for line in lines)
