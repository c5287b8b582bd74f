"""Server-side web sessions, the failed-authentication throttle, anonymous refusal tallies.

Revision ID: 0004_sessions_throttle
Revises: 0003_reveal
Create Date: 2026-12-03

Written out by hand, like 0001, so it stays what it was when later migrations change tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sessions_throttle"
down_revision = "0003_reveal"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("last_seen_at", _Time, nullable=False),
        sa.Column("ended_at", _Time, nullable=True),
        sa.Column("ended_reason", sa.String(40), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("id_hash", name="uq_web_sessions_id_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("window_started_at", _Time, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", _Time, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_auth_throttle"),
    )
    op.create_table(
        "denied_tallies",
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("minute", _Time, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "route", "minute", name="pk_denied_tallies"),
    )


def downgrade() -> None:
    op.drop_table("denied_tallies")
    op.drop_table("auth_throttle")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
