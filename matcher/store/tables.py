"""The matcher's database tables (SQLAlchemy 2 Core), the same for SQLite and PostgreSQL.

Migrations in ``migrations/versions`` create exactly these; a test compares the two. Room is
left for the reveal workflow and audit log (issue 4): hits have a free-text ``status`` column
(open, resolved_by_data, later review states) and every row has a stable id to refer to.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# The vocabulary is the core's; re-exported here for the CHECK constraints' readers.
from matcher.core.vocabulary import (
    COMPANY_ROLES,
    DECISIONS,
    EXTRACT_STATUSES,
    HIT_STATUSES,
    OUTCOME_REASONS,
    OUTCOMES,
    POLICY_STATUSES,
    REVEAL_REQUEST_STATUSES,
    ROLES,
    RUN_STATUSES,
)

__all__ = [
    "COMPANY_ROLES",
    "DECISIONS",
    "EXTRACT_STATUSES",
    "HIT_STATUSES",
    "OUTCOMES",
    "OUTCOME_REASONS",
    "POLICY_STATUSES",
    "REVEAL_REQUEST_STATUSES",
    "ROLES",
    "RUN_STATUSES",
    "api_tokens",
    "approvals",
    "audit_checkpoints",
    "audit_entries",
    "audit_nodes",
    "auth_throttle",
    "companies",
    "company_previous_keys",
    "denied_tallies",
    "disclosure_reads",
    "extracts",
    "hits",
    "leases",
    "metadata",
    "outcomes",
    "policies",
    "reveal_requests",
    "runs",
    "users",
    "web_sessions",
    "witness_cosignatures",
    "witnesses",
]


# Deterministic constraint names, so migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

companies = Table(
    "companies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("signing_public_key", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("company_id", String(64), ForeignKey("companies.id"), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Signed in through an OpenID provider: the issuer's name (settings) and its subject id.
    # Such a user's token_hash is of 256 random bits never shown: it opens nothing.
    Column("issuer", String(40), nullable=True),
    Column("subject", String(255), nullable=True),
    UniqueConstraint("issuer", "subject", name="uq_users_identity"),
)

# Machine tokens (scripts, the connector's upload): several per user, each with a name, an
# expiry and its last use; only the SHA-256 of the token is kept. Rotation makes a new one and
# lets the old one run out (replaced_by).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("replaced_by", BigInteger, nullable=True),
    Column("expiry_logged", Boolean, nullable=False, default=False),
)

extracts = Table(
    "extracts",
    metadata,
    Column("id", String(36), primary_key=True),  # the manifest's extract_id (UUID)
    Column("company_id", String(64), ForeignKey("companies.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("uploaded_by", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("records_sha256", String(64), nullable=False),
    Column("blob_key", String(64), nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("contract_version", String(10), nullable=False),
    Column("encoding_digest", String(80), nullable=False),
    Column("matching_key_epoch", String(100), nullable=False),
    Column("reveal_key_fingerprint", String(64), nullable=False),
    # Nulled by retention (issue 4): without it the sealed fields can never be opened again.
    Column("wrapped_data_key", Text, nullable=True),
    Column("superseded_at", DateTime(timezone=True), nullable=True),
    Index("ix_extracts_company_id_status", "company_id", "status"),
    # At most one active extract per company: two concurrent uploads can not both win.
    Index(
        "uq_extracts_one_active",
        "company_id",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("run_date", Date, nullable=False),
    Column("policy_id", String(100), nullable=False),
    Column("policy_version", String(50), nullable=False),
    Column("policy_digest", String(80), nullable=False),
    Column("extract_ids", JSON, nullable=False),  # company -> extract id the run read
    Column("counts", JSON, nullable=False),
    Column("started_by", String(100), nullable=False),
    Column("error", Text, nullable=True),
    # Background runs: queued by a door, worked by one process (the holder of the "runs" lease).
    Column("queued_at", DateTime(timezone=True), nullable=True),
    Column("stage", String(40), nullable=True),
    Column("progress", Float, nullable=True),  # share done, 0..1
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("worker", String(100), nullable=True),
    Column("retry_of", String(36), nullable=True),
    Column("actor", JSON, nullable=True),  # who queued it: the audit entries name them
    Index("ix_runs_status", "status"),
)

# One row per periodic job (``runs``, ``purge``): the process whose lease has not expired runs
# it, so several ``serve`` workers run each job exactly once.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

hits = Table(
    "hits",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("rule_id", String(100), nullable=False),
    Column("lane", String(20), nullable=False),
    Column("band", String(20), nullable=False),
    Column("status", String(30), nullable=False),
    Column("company_a", String(64), ForeignKey("companies.id"), nullable=False),
    Column("ref_a", String(128), nullable=False),
    Column("extract_a", String(36), ForeignKey("extracts.id"), nullable=False),
    Column("company_b", String(64), ForeignKey("companies.id"), nullable=False),
    Column("ref_b", String(128), nullable=False),
    Column("extract_b", String(36), ForeignKey("extracts.id"), nullable=False),
    Column("overlap_start", Date, nullable=False),
    Column("overlap_end", Date, nullable=False),
    Column("overlap_days", Integer, nullable=False),
    Column("score", Float, nullable=True),  # internal only: never in an API response
    Column("policy_id", String(100), nullable=False),
    Column("policy_digest", String(80), nullable=False),
    Column("first_run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("last_run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("rule_id", "company_a", "ref_a", "company_b", "ref_b"),
    Index("ix_hits_company_a", "company_a"),
    Index("ix_hits_company_b", "company_b"),
)

# --- Reveal workflow (issue 4): requests, approvals, disclosure reads, outcomes -------------


reveal_requests = Table(
    "reveal_requests",
    metadata,
    Column("id", String(36), primary_key=True),  # UUID: not guessable, not a count
    Column("hit_id", BigInteger, ForeignKey("hits.id"), nullable=False),
    Column("rule_id", String(100), nullable=False),
    # Copied from the hit when filed: the request is bound to the hit as it was then.
    Column("company_a", String(64), nullable=False),
    Column("company_b", String(64), nullable=False),
    Column("requester_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("requester_company", String(64), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("case_reference", String(200), nullable=False),
    Column("justification", Text, nullable=False),
    Column("policy_id", String(100), nullable=False),
    Column("policy_digest", String(80), nullable=False),
    Column("binding", String(80), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # pending until then
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("disclosure_until", DateTime(timezone=True), nullable=True),
    Index("ix_reveal_requests_hit_id", "hit_id"),
    Index("ix_reveal_requests_status", "status"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("reveal_requests.id"), nullable=False),
    Column("approver_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("approver_role", String(20), nullable=False),
    Column("approver_company", String(64), nullable=True),
    Column("decision", String(10), nullable=False),  # approve | deny
    Column("reason", Text, nullable=False),
    Column("binding", String(80), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    # Each person decides once on one version of a request, even under concurrent clicks.
    UniqueConstraint("request_id", "approver_id", "binding"),
)

disclosure_reads = Table(
    "disclosure_reads",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("reveal_requests.id"), nullable=False),
    Column("reader_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
    Index("ix_disclosure_reads_request_id", "request_id"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("hit_id", BigInteger, ForeignKey("hits.id"), nullable=False),
    Column("company_id", String(64), nullable=False),  # whose investigation concluded
    Column("outcome", String(30), nullable=False),
    Column("reason", String(30), nullable=True),  # sub-reason of no_issue_explained
    Column("note", Text, nullable=False),
    Column("recorded_by", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_outcomes_hit_id", "hit_id"),
)

# --- Audit log and policy activation (issue 4) ----------------------------------------------


# One row per entry: ``entry`` holds the exact canonical JSON bytes that were hashed; the other
# columns repeat a few of its values so auditors can filter without parsing every entry.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 0-based, no gaps
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("actor_role", String(30), nullable=False),
    Column("actor_company", String(64), nullable=True),
    Column("action", String(100), nullable=False),
    Column("object_company", String(64), nullable=True),  # object["company"] when the entry has one
    Column("case_reference", String(200), nullable=True),
    Column("policy_id", String(100), nullable=True),
    Column("result", String(10), nullable=False),  # allowed | denied
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index("ix_audit_entries_time", "time"),
    Index("ix_audit_entries_actor_id", "actor_id"),
    Index("ix_audit_entries_action", "action"),
)

# Every complete subtree hash (MemoryTree rows): a proof is O(log n) look-ups, no rehashing.
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

# Signed checkpoints by tree size: signing is cheap, but one note per size keeps what auditors
# fetched reproducible byte for byte.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

policies = Table(
    "policies",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("version", String(50), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("raw", Text, nullable=False),  # the exact TOML text the digest is over
    Column("status", String(20), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=False),
    Column("activated_by", String(100), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    Column("retired_by", String(100), nullable=True),
    # One active version per policy id, even when two admins activate at once.
    Index(
        "uq_policies_one_active",
        "id",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
)

# A signed-in browser session. The cookie holds a random id; only its SHA-256 is stored, so a
# database backup opens no session. A row is never deleted when the session ends: ended_at and
# ended_reason (sign-out, idle, absolute, user-revoked) say how, for the admin pages to list.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("id_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("ended_reason", String(40), nullable=True),
    Column("language", String(8), nullable=False),
    Column("csrf", String(64), nullable=False),
    # A session begun at an OpenID provider: its refresh token (AES-GCM under a key derived
    # from the session secret) and when the provider last confirmed the person.
    Column("refresh_token", Text, nullable=True),
    Column("checked_at", DateTime(timezone=True), nullable=True),
)

# Failed authentications per key: a keyed hash of the source address or of a token's prefix,
# never the address or the token. In the database so that every worker sees the same counts.
auth_throttle = Table(
    "auth_throttle",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("window_started_at", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

# Refused anonymous attempts per source (keyed hash), route template and minute, until the
# minute is over and becomes one audit entry with the count: a flood can not grow the log by one
# entry per request (route templates are a fixed set).
denied_tallies = Table(
    "denied_tallies",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("route", String(200), primary_key=True),
    Column("minute", DateTime(timezone=True), primary_key=True),
    Column("count", Integer, nullable=False),
)


# Companies' witnesses of the access log (C2SP tlog-cosignature, Ed25519 cosignature/v1): each
# a key name and public key registered by the operator for one company, and the cosignatures
# they sent, one per witness and checkpoint size (the note of that size is audit_checkpoints').
witnesses = Table(
    "witnesses",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("company_id", String(64), ForeignKey("companies.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("public_key", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

witness_cosignatures = Table(
    "witness_cosignatures",
    metadata,
    Column("size", BigInteger, ForeignKey("audit_checkpoints.size"), primary_key=True),
    Column("witness_id", BigInteger, ForeignKey("witnesses.id"), primary_key=True),
    Column("line", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


# A company's signing keys it replaced: accepted until ``accepted_until`` (a rotation's overlap,
# so packages signed before the switch still upload), never once ``revoked_at`` is set (a
# compromise). The current key is ``companies.signing_public_key``.
company_previous_keys = Table(
    "company_previous_keys",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("company_id", String(64), ForeignKey("companies.id"), nullable=False, index=True),
    Column("public_key", Text, nullable=False),
    Column("replaced_at", DateTime(timezone=True), nullable=False),
    Column("accepted_until", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
