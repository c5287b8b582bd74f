"""OpenID Connect sign-in: a user's identity at a provider; a session's provider check.

Revision ID: 0009_openid
Revises: 0008_run_queue
Create Date: 2026-12-04

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_openid"
down_revision = "0008_run_queue"
branch_labels = None
depends_on = None

_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("issuer", sa.String(40), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_users_identity", ["issuer", "subject"])
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("refresh_token", sa.Text(), nullable=True))
        batch.add_column(sa.Column("checked_at", _Time, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("checked_at")
        batch.drop_column("refresh_token")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_identity", type_="unique")
        batch.drop_column("subject")
        batch.drop_column("issuer")
