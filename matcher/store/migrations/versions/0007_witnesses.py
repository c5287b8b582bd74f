"""Companies' witnesses of the access log and their cosignatures; companies' replaced keys.

Revision ID: 0007_witnesses
Revises: 0004_sessions_throttle
Create Date: 2026-12-04

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_witnesses"
down_revision = "0004_sessions_throttle"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "witnesses",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("added_at", _Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_witnesses_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_witnesses"),
        sa.UniqueConstraint("name", name="uq_witnesses_name"),
    )
    op.create_index("ix_witnesses_company_id", "witnesses", ["company_id"])
    op.create_table(
        "witness_cosignatures",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("received_at", _Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["size"],
            ["audit_checkpoints.size"],
            name="fk_witness_cosignatures_size_audit_checkpoints",
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"], ["witnesses.id"], name="fk_witness_cosignatures_witness_id_witnesses"
        ),
        sa.PrimaryKeyConstraint("size", "witness_id", name="pk_witness_cosignatures"),
    )

    op.create_table(
        "company_previous_keys",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("replaced_at", _Time, nullable=False),
        sa.Column("accepted_until", _Time, nullable=True),
        sa.Column("revoked_at", _Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_company_previous_keys_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_company_previous_keys"),
    )
    op.create_index("ix_company_previous_keys_company_id", "company_previous_keys", ["company_id"])


def downgrade() -> None:
    op.drop_index("ix_company_previous_keys_company_id", table_name="company_previous_keys")
    op.drop_table("company_previous_keys")
    op.drop_table("witness_cosignatures")
    op.drop_index("ix_witnesses_company_id", table_name="witnesses")
    op.drop_table("witnesses")
