"""Alembic environment: async engines for both SQLite and PostgreSQL.

On SQLite a migration runs with foreign keys off and inside one explicit transaction:
rebuilding a table (batch mode) drops the old one, which with foreign keys on would delete or
cascade its children's rows, and the driver would otherwise run DDL outside any transaction,
leaving a half-migrated file behind an error. The foreign keys are checked before the commit.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from stridegraph.db.engine import make_engine
from stridegraph.db.models import Base

config = context.config
target_metadata = Base.metadata


class ForeignKeyViolation(RuntimeError):
    """A migration left rows pointing at nothing; the migration is rolled back."""


def _begin_sqlite(connection: Connection) -> None:
    """Foreign keys off (only possible outside a transaction), then BEGIN explicitly."""
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("BEGIN")


def _check_sqlite(connection: Connection) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise ForeignKeyViolation(f"foreign keys broken by the migration: {violations[:5]}")


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _begin_sqlite(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        _check_sqlite(connection)


async def _run_online() -> None:
    # pooler-safe statements always: a migration is rare, and so works behind PgBouncer too
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url, transaction_pooler=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_online())


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
