"""security events and data exports

``security_events`` is the security history and admin audit log: one row per event, written
in the transaction of the action; read newest first with a keyset on ``(at, id)``, with one
index per filter (subject, actor, type). ``data_exports`` tracks each user's export archive
(the ZIP itself lives under ``DATA_DIR/exports``); ``notification_opt_outs`` the kinds of
security mail each user turned off.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["users.id"],
            name=op.f("fk_security_events_subject_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_security_events_at", "security_events", ["at", "id"])
    op.create_index("ix_security_events_subject", "security_events", ["subject_id", "at", "id"])
    op.create_index("ix_security_events_actor", "security_events", ["actor_id", "at", "id"])
    op.create_index("ix_security_events_type", "security_events", ["type", "at", "id"])
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("file_name", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'ready', 'failed')", name=op.f("ck_data_exports_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_data_exports_user", "data_exports", ["user_id", "created_at"])
    op.create_index("ix_data_exports_expires", "data_exports", ["expires_at"])
    op.create_index(
        "uq_data_exports_pending",
        "data_exports",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "notification_opt_outs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_opt_outs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("notification_opt_outs")
    op.drop_index("uq_data_exports_pending", table_name="data_exports")
    op.drop_index("ix_data_exports_expires", table_name="data_exports")
    op.drop_index("ix_data_exports_user", table_name="data_exports")
    op.drop_table("data_exports")
    op.drop_index("ix_security_events_type", table_name="security_events")
    op.drop_index("ix_security_events_actor", table_name="security_events")
    op.drop_index("ix_security_events_subject", table_name="security_events")
    op.drop_index("ix_security_events_at", table_name="security_events")
    op.drop_table("security_events")
