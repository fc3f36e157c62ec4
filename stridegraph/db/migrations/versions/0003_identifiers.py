"""identifiers: users.email_key, and ids never reused on SQLite

- ``users.email_key`` holds each address in its NFC + casefold form (``db/keys.email_key``,
  computed in Python so SQLite and PostgreSQL agree); its unique index replaces the one on
  ``lower(email)``, which folded ASCII only on SQLite. Existing rows are keyed here. When two
  existing accounts share a key (``Ärger@…`` and ``ärger@…`` on an old SQLite database) the
  upgrade stops before changing anything and names them: an administrator must change one
  address first, since they are one address to the service from now on.
- On SQLite every table with an integer surrogate key is rebuilt ``AUTOINCREMENT``, so the id
  of a deleted row is never handed out again. ``env.py`` runs SQLite migrations with foreign
  keys off inside one transaction and checks them before committing, so rebuilding a parent
  neither cascades to its children nor leaves a half-built schema.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stridegraph.db.keys import EMAIL_KEY_LENGTH, email_key

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables with an integer surrogate key (``server_settings`` has the fixed id 1).
SURROGATE_KEYED = (
    "users",
    "user_identity_providers",
    "sessions",
    "one_time_tokens",
    "mfa_backup_codes",
    "api_tokens",
    "login_attempts",
)

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("email_key", sa.String),
)


class EmailCollision(RuntimeError):
    """Existing accounts whose addresses are one address under the new matching."""


def _keys_or_abort() -> dict[int, str]:
    """Every user's key, computed before anything changes; abort on a collision."""
    rows = op.get_bind().execute(sa.select(users.c.id, users.c.email)).all()
    keys = {user_id: email_key(email) for user_id, email in rows}
    owners: dict[str, list[int]] = defaultdict(list)
    for user_id, key in keys.items():
        owners[key].append(user_id)
    clashes = [sorted(ids) for ids in owners.values() if len(ids) > 1]
    if clashes:
        listed = "; ".join("users " + ", ".join(str(i) for i in ids) for ids in sorted(clashes))
        raise EmailCollision(
            f"Cannot upgrade: accounts share an e-mail address under the new matching: {listed}."
            " Change all but one address of each group (case and Unicode form no longer tell"
            " addresses apart), then migrate again. Nothing was changed."
        )
    return keys


def _rebuild_for_sqlite(*, autoincrement: bool) -> None:
    """Recreate each surrogate-keyed table with (or without) AUTOINCREMENT, keeping its rows
    and ids. Expression indexes are not reflected by batch mode, so the username index is
    made again afterwards."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        for table in SURROGATE_KEYED:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
            ):
                pass
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def upgrade() -> None:
    keys = _keys_or_abort()
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _rebuild_for_sqlite(autoincrement=True)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_key", sa.String(length=EMAIL_KEY_LENGTH), nullable=True)
        )
    for user_id, key in keys.items():
        op.execute(users.update().where(users.c.id == user_id).values(email_key=key))
    if not sqlite:
        op.drop_index("uq_users_email_lower", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("uq_users_email_key", ["email_key"], unique=True)


def _unkeyed_duplicates() -> list[int]:
    """Accounts without a key that share an address with another (sign-ups with a taken
    address): the old ``lower(email)`` index cannot hold them."""
    query = sa.select(users.c.id, users.c.email).order_by(users.c.email_key.is_(None), users.c.id)
    seen: set[str] = set()
    duplicates: list[int] = []
    for user_id, email in op.get_bind().execute(query):
        if email.lower() in seen:
            duplicates.append(user_id)
        seen.add(email.lower())
    return duplicates


def downgrade() -> None:
    duplicates = _unkeyed_duplicates()
    if duplicates:
        raise EmailCollision(
            "Cannot downgrade: accounts "
            + ", ".join(str(i) for i in duplicates)
            + " share an e-mail address with another account (sign-ups with a taken address);"
            " delete them first. Nothing was changed."
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_email_key")
        batch_op.drop_column("email_key")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_for_sqlite(autoincrement=False)
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
