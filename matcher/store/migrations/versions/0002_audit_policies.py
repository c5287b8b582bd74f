"""Audit log (entries, Merkle nodes, signed checkpoints) and activated policies.

Revision ID: 0002_audit_policies
Revises: 0001
Create Date: 2026-11-29

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_policies"
down_revision = "0001"
branch_labels = None
depends_on = None

_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("time", _Time, nullable=False),
        sa.Column("actor_id", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(30), nullable=False),
        sa.Column("actor_company", sa.String(64), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_company", sa.String(64), nullable=True),
        sa.Column("case_reference", sa.String(200), nullable=True),
        sa.Column("policy_id", sa.String(100), nullable=True),
        sa.Column("result", sa.String(10), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_time", "audit_entries", ["time"])
    op.create_index("ix_audit_entries_actor_id", "audit_entries", ["actor_id"])
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_audit_nodes"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("activated_at", _Time, nullable=False),
        sa.Column("activated_by", sa.String(100), nullable=False),
        sa.Column("retired_at", _Time, nullable=True),
        sa.Column("retired_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", "version", name="pk_policies"),
    )
    op.create_index(
        "uq_policies_one_active",
        "policies",
        ["id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("uq_policies_one_active", table_name="policies")
    op.drop_table("policies")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_nodes")
    op.drop_index("ix_audit_entries_action", table_name="audit_entries")
    op.drop_index("ix_audit_entries_actor_id", table_name="audit_entries")
    op.drop_index("ix_audit_entries_time", table_name="audit_entries")
    op.drop_table("audit_entries")
