"""Background runs: a queue state, stage and share done, the worker and its heartbeat; leases.

Revision ID: 0008_run_queue
Revises: 0007_witnesses
Create Date: 2026-12-04

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_run_queue"
down_revision = "0007_witnesses"
branch_labels = None
depends_on = None

_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queued_at", _Time, nullable=True))
        batch.add_column(sa.Column("stage", sa.String(40), nullable=True))
        batch.add_column(sa.Column("progress", sa.Float(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", _Time, nullable=True))
        batch.add_column(sa.Column("worker", sa.String(100), nullable=True))
        batch.add_column(sa.Column("retry_of", sa.String(36), nullable=True))
        batch.add_column(sa.Column("actor", sa.JSON(), nullable=True))
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("actor", "retry_of", "worker", "heartbeat_at", "progress", "stage"):
            batch.drop_column(column)
        batch.drop_column("queued_at")
