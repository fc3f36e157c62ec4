"""indexes for keyset paging of the users listing

One ``(sort key, id)`` index per sort order, so a cursor's row-value comparison
``(key, id) > (:value, :id)`` is an index range (a seek), not a filter over a scan. The
``created_at`` index they replace served only the first half of that order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_users_keyset_username", "users", [sa.text("lower(username)"), "id"])
    op.create_index("ix_users_keyset_name", "users", [sa.text("lower(name)"), "id"])
    op.create_index("ix_users_keyset_created_at", "users", ["created_at", "id"])
    op.create_index("ix_users_keyset_access_type", "users", ["access_type", "id"])
    op.drop_index("ix_users_created_at", table_name="users")


def downgrade() -> None:
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.drop_index("ix_users_keyset_access_type", table_name="users")
    op.drop_index("ix_users_keyset_created_at", table_name="users")
    op.drop_index("ix_users_keyset_name", table_name="users")
    op.drop_index("ix_users_keyset_username", table_name="users")
