"""Reveal workflow: reveal requests, approvals (and denials), disclosure reads, hit outcomes.

Revision ID: 0003_reveal
Revises: 0002_audit_policies
Create Date: 2026-11-29

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reveal"
down_revision = "0002_audit_policies"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reveal_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("hit_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("company_a", sa.String(64), nullable=False),
        sa.Column("company_b", sa.String(64), nullable=False),
        sa.Column("requester_id", sa.BigInteger(), nullable=False),
        sa.Column("requester_company", sa.String(64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("case_reference", sa.String(200), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("policy_digest", sa.String(80), nullable=False),
        sa.Column("binding", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("expires_at", _Time, nullable=False),
        sa.Column("decided_at", _Time, nullable=True),
        sa.Column("disclosure_until", _Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reveal_requests"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], name="fk_reveal_requests_hit_id_hits"),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name="fk_reveal_requests_requester_id_users"
        ),
    )
    op.create_index("ix_reveal_requests_hit_id", "reveal_requests", ["hit_id"])
    op.create_index("ix_reveal_requests_status", "reveal_requests", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("approver_id", sa.BigInteger(), nullable=False),
        sa.Column("approver_role", sa.String(20), nullable=False),
        sa.Column("approver_company", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("binding", sa.String(80), nullable=False),
        sa.Column("decided_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["reveal_requests.id"], name="fk_approvals_request_id_reveal_requests"
        ),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["users.id"], name="fk_approvals_approver_id_users"
        ),
        sa.UniqueConstraint(
            "request_id",
            "approver_id",
            "binding",
            name="uq_approvals_request_id_approver_id_binding",
        ),
    )
    op.create_table(
        "disclosure_reads",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("reader_id", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("read_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_disclosure_reads"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reveal_requests.id"],
            name="fk_disclosure_reads_request_id_reveal_requests",
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["users.id"], name="fk_disclosure_reads_reader_id_users"
        ),
    )
    op.create_index("ix_disclosure_reads_request_id", "disclosure_reads", ["request_id"])
    op.create_table(
        "outcomes",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("hit_id", sa.BigInteger(), nullable=False),
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(30), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], name="fk_outcomes_hit_id_hits"),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name="fk_outcomes_recorded_by_users"
        ),
    )
    op.create_index("ix_outcomes_hit_id", "outcomes", ["hit_id"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_hit_id", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_disclosure_reads_request_id", table_name="disclosure_reads")
    op.drop_table("disclosure_reads")
    op.drop_table("approvals")
    op.drop_index("ix_reveal_requests_status", table_name="reveal_requests")
    op.drop_index("ix_reveal_requests_hit_id", table_name="reveal_requests")
    op.drop_table("reveal_requests")
