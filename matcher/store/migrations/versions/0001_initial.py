"""Initial schema: companies, users, extracts, runs, hits.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out by hand (not ``metadata.create_all``) so this migration stays what it was when
later ones change the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("signing_public_key", sa.Text(), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_table(
        "users",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("company_id", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("revoked_at", _Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_users_company_id_companies"
        ),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
    )
    op.create_table(
        "extracts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("uploaded_by", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("records_sha256", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.String(64), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("contract_version", sa.String(10), nullable=False),
        sa.Column("encoding_digest", sa.String(80), nullable=False),
        sa.Column("matching_key_epoch", sa.String(100), nullable=False),
        sa.Column("reveal_key_fingerprint", sa.String(64), nullable=False),
        sa.Column("wrapped_data_key", sa.Text(), nullable=True),
        sa.Column("superseded_at", _Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_extracts"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_extracts_company_id_companies"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name="fk_extracts_uploaded_by_users"
        ),
    )
    op.create_index("ix_extracts_company_id_status", "extracts", ["company_id", "status"])
    op.create_index(
        "uq_extracts_one_active",
        "extracts",
        ["company_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", _Time, nullable=False),
        sa.Column("finished_at", _Time, nullable=True),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("policy_version", sa.String(50), nullable=False),
        sa.Column("policy_digest", sa.String(80), nullable=False),
        sa.Column("extract_ids", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(100), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "hits",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("lane", sa.String(20), nullable=False),
        sa.Column("band", sa.String(20), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("company_a", sa.String(64), nullable=False),
        sa.Column("ref_a", sa.String(128), nullable=False),
        sa.Column("extract_a", sa.String(36), nullable=False),
        sa.Column("company_b", sa.String(64), nullable=False),
        sa.Column("ref_b", sa.String(128), nullable=False),
        sa.Column("extract_b", sa.String(36), nullable=False),
        sa.Column("overlap_start", sa.Date(), nullable=False),
        sa.Column("overlap_end", sa.Date(), nullable=False),
        sa.Column("overlap_days", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("policy_digest", sa.String(80), nullable=False),
        sa.Column("first_run_id", sa.String(36), nullable=False),
        sa.Column("last_run_id", sa.String(36), nullable=False),
        sa.Column("first_seen", _Time, nullable=False),
        sa.Column("last_seen", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hits"),
        sa.ForeignKeyConstraint(
            ["company_a"], ["companies.id"], name="fk_hits_company_a_companies"
        ),
        sa.ForeignKeyConstraint(
            ["company_b"], ["companies.id"], name="fk_hits_company_b_companies"
        ),
        sa.ForeignKeyConstraint(["extract_a"], ["extracts.id"], name="fk_hits_extract_a_extracts"),
        sa.ForeignKeyConstraint(["extract_b"], ["extracts.id"], name="fk_hits_extract_b_extracts"),
        sa.ForeignKeyConstraint(["first_run_id"], ["runs.id"], name="fk_hits_first_run_id_runs"),
        sa.ForeignKeyConstraint(["last_run_id"], ["runs.id"], name="fk_hits_last_run_id_runs"),
        sa.UniqueConstraint(
            "rule_id",
            "company_a",
            "ref_a",
            "company_b",
            "ref_b",
            name="uq_hits_rule_id_company_a_ref_a_company_b_ref_b",
        ),
    )
    op.create_index("ix_hits_company_a", "hits", ["company_a"])
    op.create_index("ix_hits_company_b", "hits", ["company_b"])


def downgrade() -> None:
    op.drop_table("hits")
    op.drop_table("runs")
    op.drop_index("uq_extracts_one_active", table_name="extracts")
    op.drop_index("ix_extracts_company_id_status", table_name="extracts")
    op.drop_table("extracts")
    op.drop_table("users")
    op.drop_table("companies")
