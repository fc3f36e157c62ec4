"""Alembic is the only way a schema is made: the chain goes up, down and up again on both
databases, and the models agree with what the migrations build."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from stridegraph.db.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not available")
    name = f"stridegraph_mig_{uuid.uuid4().hex[:8]}"
    url = await server.create_database(name)
    yield url
    await server.drop_database(name)


async def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    expected = {t.name for t in Base.metadata.sorted_tables}
    await migrate.upgrade_async(empty_url)
    assert expected <= await table_names(empty_url)
    await migrate.downgrade_async(empty_url, "base")
    assert await table_names(empty_url) <= {"alembic_version"}
    await migrate.upgrade_async(empty_url)
    assert expected <= await table_names(empty_url)
    engine = make_engine(empty_url)
    assert await migrate.is_at_head(engine)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT signup_enabled, password_min_length_admin FROM server_settings")
            )
        ).one()
    await engine.dispose()
    assert tuple(row) == (False, 12)


def _diff(connection: Any) -> list[Any]:
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; alembic warns and skips comparing them.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    await engine.dispose()
    assert diff == []


@pytest.mark.parametrize("column", ["username", "email"])
async def test_unique_case_insensitively_in_the_database(empty_url: str, column: str) -> None:
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    insert = text(
        "INSERT INTO users (name, username, email, preferred_language, gender, units, access_type,"
        " active, first_day_of_week, currency, mfa_enabled, email_verified, pending_admin_approval,"
        " created_at, updated_at) VALUES ('N', :u, :e, 'us', 'unspecified', 'metric', 'regular',"
        " true, 'monday', 'euro', false, false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    first = {"u": "Alice", "e": "Alice@Example.com"}
    second = {"u": "bob", "e": "bob@example.com"}
    second[column[0]] = first[column[0]].upper()
    async with engine.begin() as conn:
        await conn.execute(insert, first)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert, second)
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
    await engine.dispose()
    assert count == 1
